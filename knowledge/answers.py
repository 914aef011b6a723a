"""The bot's answers from the knowledge base: where an answer comes from, what was offered, whether it helped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import utcnow
from knowledge.models import KnowledgeAnswer, KnowledgeEntry
from knowledge.search import Found


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
