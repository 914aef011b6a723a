"""The sensitive-keyword lexicon: admins add, edit, switch off, delete and bulk-import terms."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.accounts import Actor
from risk.models import SensitiveTerm

# class -> (Chinese, English) label
CLASSES: dict[str, tuple[str, str]] = {
    "extreme": ("极端言行", "Extreme acts"), "self_harm": ("自伤自杀", "Self-harm"), "violence": ("暴力", "Violence"),
    "collective": ("群体性", "Collective action"), "escalation": ("越级上访", "Escalation"),
    "media": ("媒体炒作", "Media exposure"), "wages": ("欠薪", "Unpaid wages"),
    "demolition": ("征地拆迁", "Land and demolition"), "other": ("其他", "Other"),
}
MAX_TERM = 100
MIN_WEIGHT, MAX_WEIGHT = 0.1, 10.0


class LexiconError(ValueError):
    """A lexicon change that cannot be made, said in Chinese and English; ``status`` for an API."""

    status = 422

    def __init__(self, zh: str, en: str, *, status: int = 422):
        super().__init__(en)
        self.zh, self.en, self.status = zh, en, status


@dataclass(frozen=True)
class ImportProblem:
    """One line of a bulk import that was not taken, with the reason."""

    line_no: int
    line: str
    zh: str
    en: str


def _term(value: str | None) -> str:
    term = (value or "").strip()
    if not term:
        raise LexiconError("词条不能为空", "the term is empty")
    if len(term) > MAX_TERM:
        raise LexiconError(f"词条不能超过 {MAX_TERM} 个字符", f"the term is longer than {MAX_TERM} characters")
    return term


def _klass(value: str | None) -> str:
    klass = (value or "").strip()
    if klass not in CLASSES:
        raise LexiconError(f"未知类别「{klass}」，可选：{'、'.join(CLASSES)}",
                           f"unknown class {klass!r}; one of {', '.join(CLASSES)}")
    return klass


def _weight(value: float | str | None) -> float:
    try:
        weight = float(value) if value not in (None, "") else 1.0
    except (TypeError, ValueError):
        raise LexiconError(f"权重「{value}」不是数字", f"the weight {value!r} is not a number") from None
    if math.isnan(weight) or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise LexiconError(f"权重须在 {MIN_WEIGHT} 到 {MAX_WEIGHT:g} 之间", f"the weight must be {MIN_WEIGHT} to {MAX_WEIGHT:g}")
    return weight


def _check_unique(session: Session, term: str, *, except_id: int | None = None) -> None:
    stmt = select(SensitiveTerm.id).where(func.lower(SensitiveTerm.term) == term.lower())
    if except_id is not None:
        stmt = stmt.where(SensitiveTerm.id != except_id)
    if session.scalar(stmt) is not None:
        raise LexiconError(f"词条「{term}」已存在", f"the term {term!r} is already in the lexicon", status=409)


def list_terms(session: Session, *, klass: str | None = None, active_only: bool = False) -> list[SensitiveTerm]:
    """List the lexicon's terms by class and term, optionally of one class or only the active ones."""
    stmt = select(SensitiveTerm).order_by(SensitiveTerm.klass, SensitiveTerm.term)
    if klass:
        stmt = stmt.where(SensitiveTerm.klass == klass)
    if active_only:
        stmt = stmt.where(SensitiveTerm.active.is_(True))
    return list(session.scalars(stmt))


def get_term(session: Session, term_id: int) -> SensitiveTerm:
    """Return a term by id or raise LexiconError (404)."""
    row = session.get(SensitiveTerm, term_id)
    if row is None:
        raise LexiconError("没有这个词条", f"no term {term_id}", status=404)
    return row


def create_term(session: Session, *, term: str, klass: str, weight: float | str = 1.0, actor: Actor) -> SensitiveTerm:
    """Add a term (trimmed, unique regardless of letter case) with its class and weight."""
    term, klass, weight = _term(term), _klass(klass), _weight(weight)
    _check_unique(session, term)
    row = SensitiveTerm(term=term, klass=klass, weight=weight, active=True, created_by=actor.name)
    session.add(row)
    session.flush()
    return row


def update_term(session: Session, *, term_id: int, term: str, klass: str, weight: float | str, active: bool
                ) -> SensitiveTerm:
    """Replace a term's text, class, weight and whether it is in use."""
    row = get_term(session, term_id)
    term, klass, weight = _term(term), _klass(klass), _weight(weight)
    _check_unique(session, term, except_id=row.id)
    row.term, row.klass, row.weight, row.active = term, klass, weight, bool(active)
    session.flush()
    return row


def delete_term(session: Session, *, term_id: int) -> None:
    """Remove a term from the lexicon (past risk assessments keep their recorded hits)."""
    session.delete(get_term(session, term_id))
    session.flush()


def import_terms(session: Session, *, text: str, actor: Actor) -> tuple[list[SensitiveTerm], list[ImportProblem]]:
    """Add one "term,class,weight" per line (weight optional); keep the good lines and report the others."""
    added: list[SensitiveTerm] = []
    problems: list[ImportProblem] = []
    seen: set[str] = set()
    for line_no, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.replace("，", ",").split(",")]
        try:
            if len(parts) not in (2, 3):
                raise LexiconError("格式应为「词条,类别,权重」", 'expected "term,class,weight"')
            term = _term(parts[0])
            if term.lower() in seen:
                raise LexiconError(f"词条「{term}」在本次导入中重复", f"the term {term!r} appears twice in this import")
            added.append(create_term(session, term=term, klass=parts[1], weight=parts[2] if len(parts) == 3 else 1.0,
                                     actor=actor))
            seen.add(term.lower())
        except LexiconError as exc:
            problems.append(ImportProblem(line_no, line[:200], exc.zh, exc.en))
    return added, problems
