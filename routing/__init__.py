"""Which unit handles a petition and what it resembles.

Will own duty lists (the dispatch catalogue), rules, the learned router, the similar-case index
(faiss), duplicate and repeat detection and an explanation of each decision. Nothing is
implemented here yet.
"""
