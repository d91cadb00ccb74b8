"""The common bench: every model on the same jets and events (``python -m evaluation.leaderboard``).

``tasks`` (fixed recipes, test suites, scales), ``train`` (cached trainings as Dask tasks), ``evaluate``
(scores through the exported SavedModels), ``metrics`` (AUC interval, R50, SIC, sculpting, bump
significance), ``report`` and ``figures`` (both from results.json), ``bench`` (one run).
"""
