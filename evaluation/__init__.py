"""Metrics and plots for anomaly scores (larger score = more anomalous, always)."""

from preprocessing.cli import quiet_tensorflow

quiet_tensorflow()  # as in training/__init__.py
