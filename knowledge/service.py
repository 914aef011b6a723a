"""The knowledge base: entries written by admins or drawn from official replies, their search and their use.

Who sees what: citizens (the bot) get published entries only; staff beside a petition also get drafts
(replies drawn in automatically that no admin has checked yet). Nobody is offered a retired entry or
one outside its validity (valid_from … valid_until, local calendar dates, both ends included).

Entries and the replies drawn in are kept here; finding them is ``search``, the bot's use of them ``answers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from cases import catalog
from cases.enums import Status
from cases.models import Feedback, Petition, Reply
from core.accounts import Actor
from core.db import utcnow
from core.settings import get_settings
from knowledge.answers import answer_stats, do_link_petition, do_record_answer, do_record_verdict, source_line
from knowledge.index import document_text
from knowledge.models import KnowledgeAnswer, KnowledgeEntry
from knowledge.search import (
    DENSE_MIN,
    INDEX,
    LEXICAL_MIN,
    STAFF_DENSE_MIN,
    STAFF_LEXICAL_MIN,
    Found,
    IndexCache,
    dense_model,
    embed_entry,
    search,
    suggestions_for,
    today,
)

# Re-exported so that callers import the whole interface from the service, whichever module of the package defines it.
__all__ = ["DENSE_MIN", "HARVESTABLE", "INDEX", "KINDS", "LEXICAL_MIN", "MAX_ANSWER", "MAX_QUESTION", "REPLY_VALID_DAYS",
           "STAFF_DENSE_MIN", "STAFF_LEXICAL_MIN", "STATUSES", "EntryIn", "EntryNotFound", "Found", "IndexCache",
           "KnowledgeAnswer", "KnowledgeEntry", "KnowledgeError", "answer_stats", "counts", "create_entry",
           "do_harvest", "do_link_petition", "do_promote_reply", "do_publish", "do_record_answer", "do_record_verdict",
           "do_retire", "get_entry", "list_entries", "local_date", "search", "source_line", "suggestions_for", "today",
           "update_entry"]

KINDS = ("policy", "reply")
STATUSES = ("draft", "published", "retired")
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


def local_date(value: datetime) -> date:
    """Return the local calendar date of an aware datetime."""
    return value.astimezone(ZoneInfo(get_settings().timezone)).date()


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
    embed_entry(entry)
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
    if document_text(entry.question, entry.answer) != before or entry.vector_model != dense_model():
        embed_entry(entry)
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
    embed_entry(entry)
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
