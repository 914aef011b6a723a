"""Risk of a petition: lexicon hits (Aho–Corasick), head-count, repeat petitioning, overdue state → score and level."""

from __future__ import annotations

import csv
import functools
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.models import Petition
from core.db import insert_for, utcnow
from risk.matcher import Matcher
from risk.models import PetitionRisk, SensitiveTerm

LEVELS = ("red", "orange", "yellow", "blue")
LEVEL_LABELS = {"red": ("红色", "Red"), "orange": ("橙色", "Orange"), "yellow": ("黄色", "Yellow"), "blue": ("蓝色", "Blue")}
CLASSES = {
    "extreme": ("极端行为", "extreme acts"), "self_harm": ("自伤自残", "self-harm"), "violence": ("暴力", "violence"),
    "collective": ("聚集行为", "collective action"), "escalation": ("越级进京", "going to higher levels"),
    "media": ("媒体炒作", "media exposure"), "wages": ("欠薪", "wage arrears"), "demolition": ("征地拆迁", "demolition"),
    "other": ("其他", "other"),
}
# A single hit of these classes makes a petition red, whatever else it says.
CRITICAL = frozenset({"extreme", "self_harm", "violence"})
THRESHOLDS = (("red", 8.0), ("orange", 4.0), ("yellow", 1.5))
SEED = Path(__file__).parent / "data" / "lexicon.csv"
REPEAT_WINDOW = timedelta(days=180)


def seed_lexicon(session: Session, *, actor: str = "system") -> int:
    """Load the shipped starter lexicon into an empty lexicon table; return how many terms were added."""
    if session.scalar(select(func.count()).select_from(SensitiveTerm)):
        return 0
    with SEED.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        session.add(SensitiveTerm(term=row["term"], klass=row["klass"], weight=float(row["weight"]), created_by=actor))
    session.flush()
    return len(rows)


@functools.lru_cache(maxsize=4)
def _matcher(terms: tuple[tuple[str, str, float], ...]) -> tuple[Matcher, dict[str, tuple[str, float]]]:
    index = {term.lower(): (klass, weight) for term, klass, weight in terms}
    return Matcher(list(index)), index


def lexicon(session: Session) -> tuple[Matcher, dict[str, tuple[str, float]]]:
    """Return the matcher of the active lexicon as it is now (edits take effect at once; built once per version)."""
    rows = session.execute(select(SensitiveTerm.term, SensitiveTerm.klass, SensitiveTerm.weight)
                           .where(SensitiveTerm.active.is_(True)).order_by(SensitiveTerm.id))
    return _matcher(tuple((t, k, float(w)) for t, k, w in rows))


def scan(session: Session, text: str) -> list[dict]:
    """Return the lexicon hits in a text: term, class, weight, start, end."""
    matcher, index = lexicon(session)
    return [{"term": h.term, "klass": index[h.term][0], "weight": index[h.term][1], "start": h.start, "end": h.end}
            for h in matcher.find((text or "").lower())]


def _reason(kind: str, zh: str, en: str, weight: float) -> dict:
    return {"kind": kind, "text_zh": zh, "text_en": en, "weight": round(weight, 2)}


def level_of(score: float, critical: bool) -> str:
    """Return the level for a score; a critical lexicon class is always red."""
    if critical:
        return "red"
    for level, threshold in THRESHOLDS:
        if score >= threshold:
            return level
    return "blue"


def do_assess(session: Session, *, petition_id: int, now: datetime | None = None) -> PetitionRisk | None:
    """Score a petition, store its level with the reasons and the lexicon hits; None when it is gone."""
    now = now or utcnow()
    p = session.get(Petition, petition_id)
    if p is None:
        return None
    reasons, hits, score = [], [], 0.0
    seen: dict[str, dict] = {}
    for field, text in (("title", p.title), ("content", p.content)):
        for hit in scan(session, text):
            hits.append({**hit, "field": field})
            seen.setdefault(hit["term"], hit)
    by_class: dict[str, float] = {}
    for hit in seen.values():
        by_class[hit["klass"]] = by_class.get(hit["klass"], 0.0) + hit["weight"]
    for klass, weight in sorted(by_class.items(), key=lambda kv: -kv[1]):
        weight = min(weight, 8.0)
        terms = "、".join(t for t, h in seen.items() if h["klass"] == klass)
        zh, en = CLASSES.get(klass, CLASSES["other"])
        reasons.append(_reason("lexicon", f"敏感词（{zh}）：{terms}", f"sensitive terms ({en}): {terms}", weight))
        score += weight
    if p.head_count >= 5 or p.is_collective:
        weight = 4.0 if p.head_count >= 20 else 2.0
        reasons.append(_reason("head_count", f"涉及 {p.head_count} 人", f"{p.head_count} people involved", weight))
        score += weight
    if p.petitioner_id is not None:
        earlier = session.scalar(select(func.count()).select_from(Petition).where(
            Petition.petitioner_id == p.petitioner_id, Petition.id != p.id,
            Petition.received_at >= p.received_at - REPEAT_WINDOW))
        if earlier >= 2:
            weight = 2.0 if earlier >= 4 else 1.0
            reasons.append(_reason("repeat", f"近半年已信访 {earlier} 次", f"{earlier} earlier petitions in 180 days", weight))
            score += weight
    if p.overdue_since is not None:
        reasons.append(_reason("overdue", "办理已超期", "handling is overdue", 1.0))
        score += 1.0
    marks = (p.content or "").count("！") + (p.content or "").count("!")
    if marks >= 3:
        reasons.append(_reason("emotion", "情绪激烈（多处感叹）", "strong emotion (many exclamations)", 0.5))
        score += 0.5
    level = level_of(score, any(h["klass"] in CRITICAL for h in seen.values()))
    values = {"petition_id": p.id, "score": round(score, 2), "level": level, "reasons": reasons, "hits": hits,
              "computed_at": now}
    insert = insert_for(session)
    stmt = insert(PetitionRisk).values(**values)
    session.execute(stmt.on_conflict_do_update(index_elements=["petition_id"],
                                               set_={k: v for k, v in values.items() if k != "petition_id"}))
    session.flush()
    return session.scalar(select(PetitionRisk).where(PetitionRisk.petition_id == p.id)
                          .execution_options(populate_existing=True))


def get_risk(session: Session, petition_id: int) -> PetitionRisk | None:
    """Return a petition's stored risk assessment, if any."""
    return session.scalar(select(PetitionRisk).where(PetitionRisk.petition_id == petition_id))
