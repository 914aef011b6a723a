"""Risk warnings.

Will own the sensitive-keyword lexicon, per-petition risk score and level, key persons,
collective-petition clusters, hotspots by area, trends, forecasts, surge detection and alerts.
Nothing is implemented here yet.
"""
