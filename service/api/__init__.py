"""HTTP layer: one router per resource (``routes/``) and the shared dependencies (``deps.py``)."""
