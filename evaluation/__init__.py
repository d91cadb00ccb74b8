"""Metrics and plots for anomaly scores (larger score = more anomalous, always)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as in training/__init__.py
