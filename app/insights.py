"""Cached loaders of the Overview and Cohorts & movement pages: the current dataset's overview, cohort table and
segment movement over the sidebar's analysis period, each computed once per (dataset key, period, settings, rules
as :func:`app.state.rules_json`) by ``pipeline.overview`` / ``pipeline.cohorts`` / ``pipeline.movement``, from the
dataset the key names (no unhashed argument). Cached values are shared and never modified.
"""
from __future__ import annotations

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


@st.cache_data(max_entries=8, show_spinner="Computing the overview…")
def _overview(key: DatasetKey, period: AnalysisPeriod | None, horizon: int) -> Overview:
    return overview(state.loaded(key).transactions, period, horizon)


def current_overview(horizon: int = HORIZON_DAYS) -> Overview:
    """:class:`pipeline.overview.Overview` of the current dataset over the analysis period."""
    return _overview(state.dataset_key(), state.analysis_period(), horizon)


@st.cache_data(max_entries=8, show_spinner="Computing cohorts…")
def _cohorts(key: DatasetKey, period: AnalysisPeriod | None) -> pd.DataFrame:
    return cohort_table(state.loaded(key).transactions, period)


def current_cohorts() -> pd.DataFrame:
    """``pipeline.cohorts.cohort_table`` of the current dataset over the analysis period."""
    return _cohorts(state.dataset_key(), state.analysis_period())


@st.cache_data(max_entries=8, show_spinner="Computing segments at both dates…")
def _movement(key: DatasetKey, period: AnalysisPeriod | None, d_from: date | None, d_to: date | None,
              rules: str) -> Movement:
    return segment_movement(state.loaded(key).transactions, d_from, d_to, period, state.rules_frame(rules))


def current_movement(d_from: date | None = None, d_to: date | None = None) -> Movement:
    """:class:`pipeline.movement.Movement` of the current dataset between two dates of the analysis period
    (default: its end and ``HORIZON_DAYS`` earlier), with the workspace's segment rules."""
    return _movement(state.dataset_key(), state.analysis_period(), d_from, d_to, state.rules_json())
