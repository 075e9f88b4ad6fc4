"""Data protection. Submodules are imported by name (this package imports nothing, so each command stays light):

* :mod:`~pipeline.privacy.holdings` - the one search for everything held about one customer, used by both:
* :mod:`~pipeline.privacy.erase` - erasure (``python -m pipeline forget``), with a receipt;
* :mod:`~pipeline.privacy.subject` - subject access (``python -m pipeline export-customer``);
* :mod:`~pipeline.privacy.audit`, :mod:`~pipeline.privacy.retention`, :mod:`~pipeline.privacy.pseudonym` - the
  audit log, retention of logs and API purchases, and pseudonymised exports.
"""
