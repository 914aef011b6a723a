"""Text in, facts out, without a database.

Will own normalisation (full/half width, traditional to simplified), language detection, jieba
tokenising, intents, entities (phone, ID number with checksum, dates, places, head-count,
tracking number), the category classifier, embeddings behind one ``Embedder`` interface and risk
cues. Nothing is implemented here yet.
"""
