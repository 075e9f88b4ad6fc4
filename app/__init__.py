"""The Streamlit app's shared code (the pages in ``pages/`` import it; ``pipeline/`` never does).

``keys`` names every session-state key, ``state`` holds the workspace, the session's records and the cached
loaders, ``ui`` the small widgets every page uses; ``customer_ui``, ``learned_ui``, ``cluster_ui`` and ``lab_ui``
draw the larger pieces of one or two pages, ``cluster_charts`` and ``lab_charts`` build their Plotly figures.
Nothing here computes results: that is ``pipeline``'s job.
"""
__all__: list[str] = []
