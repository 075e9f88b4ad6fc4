"""Customer segmentation and retention pipeline: ingestion, cleaning, RFM, clustering, models.

Never imports Streamlit; every step can be driven from Python or ``python -m pipeline``.
"""
