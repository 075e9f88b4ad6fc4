"""Forecasts the card shows beside churn risk, each trained on stacked past cutoffs (:mod:`pipeline.slices`) and
graded out of time by :mod:`pipeline.value`: spend in the next H days (:mod:`pipeline.predict.spend`) and the
next order's date (:mod:`pipeline.predict.next_order`), both with split-conformal intervals."""
