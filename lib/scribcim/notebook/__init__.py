"""Helpers that only the notebooks use: the data tour, the explorer, and papermill execution."""
