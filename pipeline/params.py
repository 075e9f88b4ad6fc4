"""The scikit-learn rule for an estimator's ``__init__``, written once: store every argument untouched, under its
own name (``get_params``, ``clone`` and ``set_params`` read them back by the signature's names)."""
from __future__ import annotations

from typing import Any, Mapping

__all__ = ["keep_params"]


def keep_params(estimator: Any, arguments: Mapping[str, Any]) -> None:
    """Set each of ``__init__``'s ``arguments`` on ``estimator`` as it came: ``keep_params(self, locals())``."""
    for name, value in arguments.items():
        if name != "self":
            setattr(estimator, name, value)
