"""Data protection: what is held about one customer and where (:mod:`~pipeline.privacy.holdings`: the one search
both commands use), erasure (:mod:`~pipeline.privacy.erase`, ``python -m pipeline forget``) and subject access
(:mod:`~pipeline.privacy.subject`, ``python -m pipeline export-customer``). Submodules are imported by name; this
package imports nothing so each command stays light.
"""
