"""Text in, facts out, without a database.

``normalize`` folds width and traditional characters and tells Chinese from English; ``entities``
finds phones, ID numbers (checksum-validated), tracking numbers, numbers and head-counts, dates
resolved against a given day, configured areas and addresses, and self-introduced names; ``areas``
indexes the configured administrative areas for that scan; ``intents`` classifies what the citizen
wants (rules plus a classifier trained at load from ``data/nlu.yml``, Rasa 3 format); and
``interpreter`` runs them all over one message and adds risk cues. The category classifier and
embeddings are not here yet.
"""
