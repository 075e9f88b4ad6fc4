"""Cached loaders of the Overview and Cohorts & movement pages: the current dataset's overview, cohort table and
segment movement over the sidebar's analysis period, each computed once per (dataset version, period, settings) by
``pipeline.overview`` / ``pipeline.cohorts`` / ``pipeline.movement``. Cached values are shared and never modified.
"""
from __future__ import annotations

import json
from datetime import date

import pandas as pd
import streamlit as st

from app import state
from app.state import DatasetKey
from pipeline.cohorts import cohort_table
from pipeline.config import HORIZON_DAYS
from pipeline.movement import Movement, segment_movement
from pipeline.overview import Overview, overview
from pipeline.period import AnalysisPeriod

__all__ = ["current_overview", "current_cohorts", "current_movement"]


def _tx() -> pd.DataFrame:
    """The current dataset's transactions (passed unhashed: the dataset key stands for them in cache keys)."""
    return state.current_dataset().transactions


@st.cache_data(max_entries=8, show_spinner="Computing the overview…")
def _overview(key: DatasetKey, period: AnalysisPeriod | None, horizon: int, _tx: pd.DataFrame) -> Overview:
    return overview(_tx, period, horizon)


def current_overview(horizon: int = HORIZON_DAYS) -> Overview:
    """:class:`pipeline.overview.Overview` of the current dataset over the analysis period."""
    return _overview(state.dataset_key(), state.analysis_period(), horizon, _tx())


@st.cache_data(max_entries=8, show_spinner="Computing cohorts…")
def _cohorts(key: DatasetKey, period: AnalysisPeriod | None, _tx: pd.DataFrame) -> pd.DataFrame:
    return cohort_table(_tx, period)


def current_cohorts() -> pd.DataFrame:
    """``pipeline.cohorts.cohort_table`` of the current dataset over the analysis period."""
    return _cohorts(state.dataset_key(), state.analysis_period(), _tx())


@st.cache_data(max_entries=8, show_spinner="Computing segments at both dates…")
def _movement(key: DatasetKey, period: AnalysisPeriod | None, d_from: date | None, d_to: date | None,
              rules_json: str, _tx: pd.DataFrame) -> Movement:
    return segment_movement(_tx, d_from, d_to, period, pd.DataFrame(json.loads(rules_json)))


def current_movement(d_from: date | None = None, d_to: date | None = None) -> Movement:
    """:class:`pipeline.movement.Movement` of the current dataset between two dates of the analysis period
    (default: its end and ``HORIZON_DAYS`` earlier), with the workspace's segment rules."""
    return _movement(state.dataset_key(), state.analysis_period(), d_from, d_to,
                     state.segment_rules().to_json(orient="records"), _tx())
