"""Evaluation: inference, per-case metrics, the run summary (summary.json), scoring and predicting scans."""
