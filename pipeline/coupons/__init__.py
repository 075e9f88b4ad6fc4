"""Coupons: the catalogue, the expected-value policy, and the learned acceptance policy.

:mod:`~pipeline.coupons.catalogue` reads and validates the coupon catalogue and makes coupon codes;
:mod:`~pipeline.coupons.policy` recommends one catalogue coupon per customer by expected value (churn risk,
order value, margin); :mod:`~pipeline.coupons.responses` validates a coupon-response history and
:mod:`~pipeline.coupons.learned` fits an acceptance model on it with the model zoo (:mod:`pipeline.models`) and
recommends the coupon type with the highest acceptance x value. This file re-exports the public API.
"""
from __future__ import annotations

from pipeline.coupons.catalogue import (CATALOGUE_COLUMNS, DEFAULT_CATALOGUE, KINDS, RFM_SEGMENTS, RISK_BANDS,
                                        coupon_codes, load_catalogue)
from pipeline.coupons.learned import (ACCEPTANCE_SETTINGS, LearnedCouponPolicy, acceptance_pipeline,
                                      evaluate_acceptance_model, fit_learned_policy)
from pipeline.coupons.policy import (CouponBatch, CouponPolicyConfig, CouponRecommendation, CustomerContext,
                                     PreparedCatalogue, coupon_batch, face_value, prepare_catalogue, recommend_batch,
                                     recommend_coupon, risk_band, risk_bands)
from pipeline.coupons.responses import (ResponseData, detect_coupon_column, detect_response_column,
                                        prepare_responses, yes_no_columns)

__all__ = [
    "CATALOGUE_COLUMNS", "KINDS", "RISK_BANDS", "RFM_SEGMENTS", "DEFAULT_CATALOGUE",
    "CouponPolicyConfig", "CustomerContext", "CouponRecommendation",
    "load_catalogue", "risk_band", "risk_bands", "recommend_coupon", "recommend_batch", "coupon_codes",
    "PreparedCatalogue", "prepare_catalogue", "face_value", "CouponBatch", "coupon_batch",
    "yes_no_columns", "detect_response_column", "detect_coupon_column", "ResponseData", "prepare_responses",
    "ACCEPTANCE_SETTINGS", "acceptance_pipeline", "evaluate_acceptance_model", "fit_learned_policy",
    "LearnedCouponPolicy",
]
