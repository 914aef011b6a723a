"""Risk: sensitive-keyword lexicon, per-petition risk score and level, and (later) alerts."""
