"""One customer at a time: the fitted models that score customers, the card, and what-if for hypothetical inputs.

The package's interface is what this file re-exports, reused by the dashboard, the CLI and (soon) the scoring
service without copying: build a :class:`ModelScorer` once per dataset (:func:`build_scorer`, in ``scoring``),
then call :func:`customer_profile` (``card``) and :func:`what_if` (``whatif``) per request, and
:func:`rescore` / :func:`rescore_one` (``rescoring``) when a customer's new purchases arrive. ``classifier`` adapts a
fitted churn or Model-lab model to one-customer scoring; ``clusters`` places customers in a clustering. Dependencies
point one way: classifier, clusters, facts <- parts (the scorer's immutable pieces) <- index <- scoring <- rescoring,
card, whatif <- scorer_store. Feature, RFM-score and BTYD rules are not here: they belong to
``pipeline.features``, ``pipeline.rfm`` and ``pipeline.clv``.
"""
from __future__ import annotations

from pipeline.customer.card import CustomerProfile, customer_profile, purchase_timeline
from pipeline.customer.classifier import FittedClassifier, default_churn_classifier, saved_classifier
from pipeline.customer.clusters import ClusterAssigner, default_cluster_assigner, saved_cluster_assigner
from pipeline.customer.index import suggest_ids
from pipeline.customer.parts import CouponSetup, Decisions, PurchaseHistory, ScorePopulation, ScoringSettings
from pipeline.customer.rescoring import rescore, rescore_one
from pipeline.customer.scoring import ModelScorer, build_scorer
from pipeline.customer.whatif import RFM_INPUTS, WhatIfResult, derive_row, what_if, what_if_inputs

__all__ = [
    "ScoringSettings", "CouponSetup", "ScorePopulation", "PurchaseHistory", "Decisions", "ModelScorer", "build_scorer",
    "rescore", "rescore_one",
    "suggest_ids", "CustomerProfile", "customer_profile", "purchase_timeline",
    "RFM_INPUTS", "WhatIfResult", "what_if_inputs", "what_if", "derive_row",
    "FittedClassifier", "saved_classifier", "default_churn_classifier",
    "ClusterAssigner", "saved_cluster_assigner", "default_cluster_assigner",
]
