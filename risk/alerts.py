"""Alerts: red petitions, collective-petition groups growing in one district, key persons; acknowledge and resolve.

Collective groups: petitions from different people about the same issue in the same district within a window.
"The same issue" is a group link from the similar-case index (routing's duty) or, always, a cosine of character
bigrams over title and opening text, cheap enough to run on every registration against the window's petitions
of that district — so the check also works before routing has run and without the dense model.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cases.enums import Status
from cases.models import Petition
from core.accounts import Actor
from core.db import utcnow
from core.settings import get_settings
from nlu.normalize import normalize
from risk.models import PetitionRisk, RiskAlert
from routing.models import SimilarLink

KINDS = {"red_petition": ("红色预警信访件", "red-level petition"),
         "collective": ("疑似集体访苗头", "possible collective petition"),
         "surge": ("信访量激增", "surge in petitions"), "cluster": ("时空聚集", "space-time cluster"),
         "key_person": ("重点人员", "key person")}
STATUSES = ("open", "acknowledged", "resolved")
_STRIP = re.compile(r"[\s\W_]+", re.UNICODE)


class AlertError(Exception):
    status = 400


class AlertNotFound(AlertError):
    status = 404


def bigrams(text: str) -> Counter:
    """Return the character-bigram counts of a normalised text (punctuation and spaces dropped)."""
    s = _STRIP.sub("", normalize(text or "").lower())
    return Counter(s[i:i + 2] for i in range(len(s) - 1))


def _norm(counts: Counter) -> float:
    return math.sqrt(sum(v * v for v in counts.values()))


def _cosine(a: Counter, norm_a: float, b: Counter, norm_b: float) -> float:
    if not norm_a or not norm_b:
        return 0.0
    if len(b) < len(a):
        a, b = b, a
    return sum(v * b.get(k, 0) for k, v in a.items()) / (norm_a * norm_b)


def cosine(a: Counter, b: Counter) -> float:
    """Return the cosine of two sparse count vectors."""
    return _cosine(a, _norm(a), b, _norm(b))


# ~20 KB a text: enough for a busy district's 72-hour window without holding much memory.
@functools.lru_cache(maxsize=4096)
def _issue_vector(text: str) -> tuple[Counter, float]:
    """Return the bigram counts of an issue text and their norm; cached, since each text is compared many times."""
    counts = bigrams(text)
    return counts, _norm(counts)


def _issue_similarity(a: str, b: str) -> float:
    """Return the bigram cosine of two issue texts (the cached vectors are never mutated)."""
    return _cosine(*_issue_vector(a), *_issue_vector(b))


ISSUE_CHARS = 200


def issue_text(p: Petition) -> str:
    """Return the part of a petition that says what the issue is."""
    return _issue(p.title, p.content)


def _issue(title: str | None, content: str | None) -> str:
    return f"{title}\n{(content or '')[:ISSUE_CHARS]}"


def person_key(p: Petition) -> str:
    """Return who filed a petition: the petitioner record (phone / ID number), else the channel identity."""
    if p.petitioner_id is not None:
        return f"p{p.petitioner_id}"
    if p.source_hash:
        return f"s{p.source_hash}"
    return f"x{p.id}"


def upsert_alert(session: Session, *, key: str, kind: str, level: str, title: tuple[str, str], area_code: str | None,
            category: str | None, evidence: dict, now: datetime) -> RiskAlert:
    alert = session.scalar(select(RiskAlert).where(RiskAlert.key == key).with_for_update())
    if alert is None:
        alert = RiskAlert(key=key, kind=kind, level=level, title_zh=title[0][:300], title_en=title[1][:300],
                          area_code=area_code, category=category, evidence=evidence, created_at=now, updated_at=now)
        session.add(alert)
    else:
        escalated = _rank(level) < _rank(alert.level)
        alert.level = level if escalated else alert.level
        alert.title_zh, alert.title_en, alert.evidence, alert.updated_at = title[0][:300], title[1][:300], evidence, now
        if escalated and alert.status == "resolved":
            alert.status = "open"  # it came back worse: someone has to look again
    session.flush()
    return alert


def _rank(level: str) -> int:
    return ("red", "orange", "yellow", "blue").index(level) if level in ("red", "orange", "yellow", "blue") else 9


def do_check_red(session: Session, *, petition: Petition, risk: PetitionRisk, now: datetime | None = None
                 ) -> RiskAlert | None:
    """Raise an alert for a petition whose risk level is red."""
    if risk.level != "red":
        return None
    reasons = "；".join(r["text_zh"] for r in risk.reasons[:3])
    reasons_en = "; ".join(r["text_en"] for r in risk.reasons[:3])
    return upsert_alert(session, key=f"red:{petition.id}", kind="red_petition", level="red",
                   title=(f"红色预警：{petition.tracking_no}（{reasons}）", f"Red: {petition.tracking_no} ({reasons_en})"),
                   area_code=petition.area_code, category=petition.category.name if petition.category else None,
                   evidence={"petition_ids": [petition.id], "tracking_nos": [petition.tracking_no],
                             "score": risk.score, "reasons": risk.reasons}, now=now or utcnow())


def _district(code: str | None) -> str | None:
    return code[:6] if code and len(code) >= 6 else code


def do_check_collective(session: Session, *, petition: Petition, now: datetime | None = None) -> RiskAlert | None:
    """Grow or raise the collective-petition alert this petition belongs to; None when it joins no group."""
    settings = get_settings()
    district = _district(petition.area_code)
    if not district:
        return None
    window = timedelta(hours=settings.risk_group_window_hours)
    # The task holds the write lock while it runs (SQLite): read only the issue text of the candidates,
    # and load whole rows for the related few.
    candidates = session.execute(select(Petition.id, Petition.title, func.substr(Petition.content, 1, ISSUE_CHARS))
                                 .where(Petition.area_code.startswith(district), Petition.id != petition.id,
                                        Petition.received_at >= petition.received_at - window,
                                        Petition.received_at <= petition.received_at + window,
                                        Petition.status != Status.MERGED)).all()
    mine = issue_text(petition)
    # Two signals of "the same issue": the similar-case index's group links (when routing has run) and the
    # bigram cosine (always available, also before routing and without the dense model).
    linked = set(session.scalars(select(SimilarLink.similar_id).where(SimilarLink.petition_id == petition.id,
                                                                      SimilarLink.kind == "group")))
    related_ids = [pid for pid, title, head in candidates
                   if pid in linked or _issue_similarity(mine, _issue(title, head)) >= settings.risk_group_similarity]
    if not related_ids:
        return None
    related = list(session.scalars(select(Petition).where(Petition.id.in_(related_ids))))
    members = {petition.id: petition, **{c.id: c for c in related}}
    # Join the groups the related petitions already belong to, so that one alert follows one growing group.
    existing = [a for a in session.scalars(select(RiskAlert).where(RiskAlert.kind == "collective",
                                                                   RiskAlert.area_code == district))
                if set(a.evidence.get("petition_ids", [])) & set(members)]
    for alert in existing:
        for pid in alert.evidence.get("petition_ids", []):
            if pid not in members:
                other = session.get(Petition, pid)
                if other is not None:
                    members[pid] = other
    people: dict[str, int] = {}
    for p in members.values():
        people[person_key(p)] = max(people.get(person_key(p), 0), p.head_count or 1)
    if len(people) < settings.risk_group_min_people:
        return None
    heads = sum(people.values())
    level = "red" if len(people) >= 10 or heads >= 30 else "orange" if len(people) >= 5 or heads >= 10 else "yellow"
    ordered = sorted(members.values(), key=lambda p: (p.received_at, p.id))
    first = ordered[0]
    span_h = (ordered[-1].received_at - first.received_at).total_seconds() / 3600
    key = existing[0].key if existing else f"collective:{first.id}"
    for duplicate in existing[1:]:
        session.delete(duplicate)  # two groups met: keep the older alert
    title = (f"疑似集体访：{first.title[:40]} 等 {len(members)} 件，{len(people)} 人（约 {heads} 人次）",
             f"Possible collective petition: {len(members)} petitions by {len(people)} people (~{heads}) like "
             f"\u201c{first.title[:40]}\u201d")
    evidence = {"petition_ids": [p.id for p in ordered], "tracking_nos": [p.tracking_no for p in ordered],
                "people": len(people), "head_count": heads, "hours": round(span_h, 1), "district": district}
    return upsert_alert(session, key=key, kind="collective", level=level, title=title, area_code=district,
                   category=first.category.name if first.category else None, evidence=evidence, now=now or utcnow())


def list_alerts(session: Session, *, level: str | None = None, kind: str | None = None, status: str | None = None,
                area: str | None = None, limit: int = 200) -> list[RiskAlert]:
    """List alerts, the most severe and newest first."""
    stmt = select(RiskAlert)
    if level:
        stmt = stmt.where(RiskAlert.level == level)
    if kind:
        stmt = stmt.where(RiskAlert.kind == kind)
    if status:
        stmt = stmt.where(RiskAlert.status == status)
    if area:
        stmt = stmt.where(RiskAlert.area_code.startswith(area))
    rows = list(session.scalars(stmt.order_by(RiskAlert.updated_at.desc()).limit(limit)))
    return sorted(rows, key=lambda a: (a.status == "resolved", _rank(a.level)))


def get_alert(session: Session, alert_id: int, *, for_update: bool = False) -> RiskAlert:
    """Return an alert or raise AlertNotFound."""
    stmt = select(RiskAlert).where(RiskAlert.id == alert_id)
    alert = session.scalar(stmt.with_for_update() if for_update else stmt)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id}")
    return alert


def do_acknowledge(session: Session, *, alert_id: int, actor: Actor, now: datetime | None = None) -> RiskAlert:
    """Mark an open alert as seen by a supervisor."""
    alert = get_alert(session, alert_id, for_update=True)
    if alert.status == "open":
        alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", actor.name, now or utcnow()
        session.flush()
    return alert


def do_resolve(session: Session, *, alert_id: int, note: str, actor: Actor, now: datetime | None = None) -> RiskAlert:
    """Close an alert with what was done about it."""
    if not (note or "").strip():
        raise AlertError("say how the alert was resolved")
    alert = get_alert(session, alert_id, for_update=True)
    now = now or utcnow()
    if alert.acknowledged_at is None:
        alert.acknowledged_by, alert.acknowledged_at = actor.name, now
    alert.status, alert.resolved_by, alert.resolved_at, alert.resolution = "resolved", actor.name, now, note.strip()[:2000]
    session.flush()
    return alert


def list_key_persons(session: Session, *, since: datetime, min_petitions: int = 3, limit: int = 100) -> list[dict]:
    """List people who petitioned at least ``min_petitions`` times since a date, across channels, most first."""
    rows = session.execute(select(Petition.petitioner_id, Petition.source_hash, func.count()).where(
        Petition.received_at >= since, or_(Petition.petitioner_id.is_not(None), Petition.source_hash.is_not(None)))
        .group_by(Petition.petitioner_id, Petition.source_hash))
    totals: Counter = Counter()
    for petitioner_id, source, n in rows:
        totals[f"p{petitioner_id}" if petitioner_id is not None else f"s{source}"] += n
    out = []
    for key, n in totals.most_common():
        if n < min_petitions or len(out) >= limit:
            break
        condition = Petition.petitioner_id == int(key[1:]) if key[0] == "p" else Petition.source_hash == key[1:]
        petitions = list(session.scalars(select(Petition).where(condition, Petition.received_at >= since)
                                         .order_by(Petition.received_at)))
        escalations = sum(p.status in (Status.REVIEW_REQUESTED, Status.UNDER_REVIEW, Status.REVIEW_REPLIED,
                                       Status.REEXAM_REQUESTED, Status.UNDER_REEXAM, Status.FINAL) for p in petitions)
        open_cases = sum(p.closed_at is None for p in petitions)
        out.append({"key": key, "petitions": len(petitions), "channels": sorted({p.channel for p in petitions}),
                    "escalations": escalations, "open": open_cases, "first": petitions[0].received_at,
                    "last": petitions[-1].received_at, "tracking_nos": [p.tracking_no for p in petitions][-10:],
                    "petitioner_id": petitions[0].petitioner_id})
    return out
