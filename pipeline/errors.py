"""The one exception type for problems with the user's data or choices."""
from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input. The message says which rule was broken and how to fix it; pages show it, the CLI prints it."""
