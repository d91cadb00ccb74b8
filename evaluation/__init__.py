"""Metrics and plots for anomaly scores (larger score = more anomalous, always)."""
