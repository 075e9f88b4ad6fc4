"""Customer value with BTYD models: BG/NBD, Pareto/NBD and Gamma-Gamma (``lifetimes``), with robust fallbacks.

Modules: ``summary`` (the repeat-purchase summary and its conventions, also for one R/F/M customer), ``fitting``
(the fitters and their likelihoods) and ``model`` (:class:`BTYDModel`, the fallback ladder and predictions;
:func:`customer_value`, :func:`btyd_params`). Depends only on the core modules (config, errors, exports, features,
log). The package's interface is what this file re-exports.
"""
from __future__ import annotations

from pipeline.clv.model import PREDICTION_COLUMNS, BTYDModel, btyd_params, customer_value
from pipeline.clv.summary import SUMMARY_COLUMNS, btyd_summary, calibration_holdout, summary_from_rfm

__all__ = [
    "SUMMARY_COLUMNS", "PREDICTION_COLUMNS", "btyd_summary", "calibration_holdout", "summary_from_rfm",
    "BTYDModel", "customer_value", "btyd_params",
]
