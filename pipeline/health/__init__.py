"""Model health: rolling-origin backtests, drift, champion/challenger retraining, the prediction log, refresh.

Modules, each with one job: :mod:`~pipeline.health.backtest` (churn models graded at cutoffs every N days, with the
baselines), :mod:`~pipeline.health.drift` (PSI of today's customers against the population a model learned from),
:mod:`~pipeline.health.registry` (versions, the live-model pointer a service polls, decisions, roll back),
:mod:`~pipeline.health.live` (which model is live for a dataset, how every page names it, the check before putting
one live),
:mod:`~pipeline.health.retrain` (the challenger, the decision, scoring with the model in use),
:mod:`~pipeline.health.predictions` (served and batch scores, joined with their outcomes),
:mod:`~pipeline.health.sources` (a file path or a database query a dataset is read from) and
:mod:`~pipeline.health.refresh` (re-read, re-clean, re-segment, retrain, re-score, log what changed). Models come
from :mod:`pipeline.models` and the churn data from :mod:`pipeline.churn`; nothing here trains its own zoo.
"""
from __future__ import annotations

from pipeline.grading import top_share_precision
from pipeline.health.backtest import BacktestResult, backtest_cutoffs, run_backtest
from pipeline.health.drift import current_population, drift_table, population_profile, psi
from pipeline.health.registry import ChampionWatcher, HealthStore, locate_dataset

__all__ = [
    "BacktestResult", "backtest_cutoffs", "run_backtest", "top_share_precision",
    "psi", "population_profile", "current_population", "drift_table",
    "HealthStore", "ChampionWatcher", "locate_dataset",
]
