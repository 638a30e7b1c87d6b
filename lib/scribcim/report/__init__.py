"""Report: summary.json files -> markdown tables and statistics (results, comparison, selection, robustness)."""
