"""Supervised models: the zoo of classifiers, their training, metrics, explanations, saving, and the model lab.

The package's interface is what this file re-exports: the zoo (:mod:`~pipeline.models.zoo`: settings, registry,
preprocessing), training and cross-validation (:mod:`~pipeline.models.training`), explanations
(:mod:`~pipeline.models.explain`) and the custom estimators (:mod:`~pipeline.models.estimators`). Four
submodules are imported by name because they pull in more: :mod:`pipeline.models.metrics` (the metric table),
:mod:`pipeline.models.persist` (pickle-free saving and loading), :mod:`pipeline.models.lab` (the Model lab's
orchestration over datasets and workspaces) and :mod:`pipeline.models.saved` (the lab's saved models). Dependencies
point one way: estimators <- zoo <- training/explain <- persist <- lab <- saved; nothing here imports the lab.
"""
from __future__ import annotations

from pipeline.models.estimators import KerasMLPClassifier, SubsampledClassifier, ToFloat, ToText
from pipeline.models.explain import (driver_table, explain_row, explain_rows, feature_reference,
                                     permutation_importance_table, predict_table)
from pipeline.models.training import (CV_METRICS, IMBALANCE_OPTIONS, ScoreBaseline, TrainResult, check_target,
                                      cross_validate_scores, split_train_test, train_and_evaluate)
from pipeline.models.zoo import (REGISTRY, ModelSpec, ZooSettings, build_pipeline, build_preprocessor, fast_models,
                                 feature_types, output_sources, safe_feature_name, transformed_feature_names)

__all__ = [
    "ZooSettings", "ModelSpec", "REGISTRY", "IMBALANCE_OPTIONS", "CV_METRICS", "ScoreBaseline", "TrainResult",
    "ToFloat", "ToText", "SubsampledClassifier", "KerasMLPClassifier",
    "fast_models", "feature_types", "build_preprocessor", "build_pipeline", "transformed_feature_names",
    "safe_feature_name", "output_sources", "check_target", "split_train_test", "train_and_evaluate",
    "cross_validate_scores", "permutation_importance_table", "feature_reference", "explain_row", "explain_rows",
    "driver_table", "predict_table",
]
