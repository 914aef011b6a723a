"""Route a petition: classify it, find similar and repeat cases, suggest units with reasons, dispatch when sure.

What staff read of routing (decisions, links, the triage queue) is kept in ``triage``; how they correct it
(rules, category corrections) in ``corrections``.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cases import audit, catalog
from cases.enums import TERMINAL, Status, UnitRole
from cases.models import Assignment, Petition
from core.accounts import Actor, Role
from core.db import utcnow
from core.settings import ROOT, get_settings
from routing import scoring
from routing.corrections import (
    RoutingError,
    category_path,
    create_rule,
    do_correct_category,
    get_rule,
    list_corrections,
    list_rules,
    update_rule,
)
from routing.models import RoutingDecision, RoutingRule, SimilarLink
from routing.triage import count_triage, get_decision, list_links, list_triage

# Re-exported so that callers import the whole interface from the service, whichever module of the package defines it.
__all__ = ["HELD_FOR_TRIAGE", "INDEX", "ROUTER", "IndexHolder", "Neighbour", "Prepared", "RoutingError",
           "category_descriptions", "count_triage", "create_rule", "do_correct_category", "do_route",
           "find_similar", "get_decision", "get_rule", "list_corrections", "list_links", "list_rules", "list_triage",
           "petition_text", "prepare", "read_for_routing", "rebuild_index", "update_rule", "zero_shot_labels"]

log = logging.getLogger(__name__)
ROUTER = Actor("router", Role.TRIAGE)


def _path(setting: str) -> Path:
    path = Path(setting)
    return path if path.is_absolute() else ROOT / path


def petition_text(petition: Petition) -> str:
    """Return the text the router reads: title and content."""
    return f"{petition.title}\n{petition.content}"


@functools.lru_cache(maxsize=4)
def _classifier(directory: str):
    from nlu.classifier import CategoryClassifier

    return CategoryClassifier.load(directory)


@functools.lru_cache(maxsize=4)
def _zero_shot(embedder_spec: str, labels: tuple[tuple[str, str], ...]):
    from nlu.embeddings import load_embedder
    from nlu.zeroshot import ZeroShotClassifier

    return ZeroShotClassifier(load_embedder(embedder_spec), dict(labels))


def category_descriptions(session: Session) -> dict[str, str]:
    """Describe each first-level category by its names and the duty lists of the units that handle it."""
    descriptions = {}
    units = catalog.list_units(session)
    for category in catalog.list_categories(session, level=1):
        duties = [f"{u.name}：{u.description}" for u in units if category.name in u.categories and u.description]
        children = [c.name for c in catalog.list_categories(session, level=2) if c.parent_id == category.id]
        descriptions[category.name] = "；".join([f"{category.name}（{category.name_en or ''}）", "、".join(children[:8]),
                                               *duties[:3]])
    return descriptions


def zero_shot_labels(session: Session) -> tuple[tuple[str, str], ...] | None:
    """Return the zero-shot labels (category → description) when no trained model is configured but zero-shot is."""
    settings = get_settings()
    if (_path(settings.classifier_dir) / "manifest.json").exists() or not settings.zero_shot:
        return None
    return tuple(sorted(category_descriptions(session).items()))


def _predict(text: str, labels: tuple[tuple[str, str], ...] | None, *, embedder=None, vector=None
             ) -> tuple[list[str] | None, float, list, str | None]:
    """Return (category path, confidence, top-3, source) from the trained model, else zero-shot, else nothing."""
    settings = get_settings()
    model_dir = _path(settings.classifier_dir)
    try:
        if (model_dir / "manifest.json").exists():
            prediction = _classifier(str(model_dir)).predict([text])[0]
            return prediction.label.split("/"), float(prediction.confidence), \
                [[label, round(float(p), 4)] for label, p in prediction.top3], "model"
        if settings.zero_shot and labels:
            zero_shot = _zero_shot(settings.embedder, labels)
            if vector is not None and embedder is zero_shot.embedder:
                # The similar-case search embedded the text as a query with this very model: one embedding serves both.
                label, confidence, top3 = zero_shot.predict_vectors(vector)[0]
            else:
                label, confidence, top3 = zero_shot.predict([text])[0]
            return label.split("/"), float(confidence), [[lbl, round(float(p), 4)] for lbl, p in top3], "zero-shot"
    except Exception:  # a broken or missing model must not stop registration work; triage still happens
        log.exception("category prediction failed for a petition")
    return None, 0.0, [], None


class IndexHolder:
    """The process's similar-case index, loaded lazily, reloaded when another process saved, saved after changes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._index = None
        self._embedder = None
        self._key = None
        self._stamp = None

    def _load(self, directory: Path) -> None:
        # Caller holds self._lock and the directory lock (shared or exclusive).
        from routing.index import VectorIndex, manifest_stamp

        self._stamp = manifest_stamp(directory)
        try:
            self._index = VectorIndex.load(directory, embedder_name=self._embedder.name)
        except (FileNotFoundError, ValueError):
            self._index = VectorIndex.create(embedder_name=self._embedder.name, dim=self._embedder.dim)

    def get(self):
        """Return (embedder, index) for the configured embedder and directory."""
        from nlu.embeddings import load_embedder
        from routing.index import directory_lock, manifest_stamp

        settings = get_settings()
        directory = _path(settings.index_dir)
        key = (settings.embedder, str(directory))
        with self._lock:
            if self._key != key:
                self._embedder = load_embedder(settings.embedder)
                with directory_lock(directory, shared=True):
                    self._load(directory)
                self._key = key
            elif manifest_stamp(directory) != self._stamp:
                with directory_lock(directory, shared=True):
                    stamp = manifest_stamp(directory)
                    if self._index.catch_up(directory):
                        self._stamp = stamp
                    else:
                        self._load(directory)
            return self._embedder, self._index

    def add(self, petition_id: int, vector) -> None:
        """Add or replace a petition's vector and persist the index (on top of what other processes saved)."""
        from routing.index import directory_lock, manifest_stamp

        self.get()
        directory = _path(get_settings().index_dir)
        with self._lock, directory_lock(directory):
            if manifest_stamp(directory) != self._stamp and not self._index.catch_up(directory):
                self._load(directory)
            self._index.add([petition_id], vector.reshape(1, -1))
            self._index.save(directory)
            self._stamp = manifest_stamp(directory)

    def reset(self) -> None:
        """Forget the loaded index (after a rebuild or a settings change)."""
        with self._lock:
            self._index, self._embedder, self._key = None, None, None


INDEX = IndexHolder()


def _thresholds(embedder_name: str) -> tuple[float, float]:
    settings = get_settings()
    if embedder_name.startswith("lexical"):
        return settings.similar_min_score_lexical, settings.duplicate_min_score_lexical
    return settings.similar_min_score, settings.duplicate_min_score


@dataclass
class Neighbour:
    petition: Petition
    score: float


def find_similar(session: Session, petition: Petition, vector, *, k: int = 10) -> list[Neighbour]:
    """Search the index with this petition's query vector for earlier petitions like it."""
    embedder, index = INDEX.get()
    hits = index.search(vector, k + 1)[0] if len(index) else []
    minimum, _ = _thresholds(embedder.name)
    ids = [pid for pid, score in hits if pid != petition.id and score >= minimum]
    found = {p.id: p for p in session.scalars(select(Petition).where(Petition.id.in_(ids)))} if ids else {}
    return [Neighbour(found[pid], float(score)) for pid, score in hits if pid in found][:k]


def _unit_infos(session: Session) -> list[scoring.UnitInfo]:
    return [scoring.UnitInfo(u.id, u.code, u.name, u.name_en, u.level, tuple(u.area_codes or ()), tuple(u.categories or ()))
            for u in catalog.list_units(session)]


def _rules(session: Session) -> list[scoring.Rule]:
    return [scoring.Rule(r.id, r.name, r.kind, r.pattern, r.unit_id, r.weight)
            for r in session.scalars(select(RoutingRule).where(RoutingRule.active.is_(True)))]


# Contact types (set on every petition by the knowledge package) that are never dispatched automatically.
HELD_FOR_TRIAGE = {
    "report": ("举报类来件由信访部门人工分办，避免交给被举报单位",
               "reports of wrongdoing are routed by a person, never to the unit reported"),
    "praise": ("表扬类来件由人工决定转送", "praise is forwarded by a person"),
}


@dataclass(frozen=True)
class Prepared:
    """The model work of routing one petition's text: its category prediction and its vector (None: no index)."""

    text: str
    prediction: tuple[list[str] | None, float, list, str | None]
    vector: object | None


def read_for_routing(session: Session, *, petition_id: int) -> tuple[str, tuple | None] | None:
    """Return what prepare() needs from the database: the petition's text and the zero-shot labels."""
    petition = session.get(Petition, petition_id)
    return None if petition is None else (petition_text(petition), zero_shot_labels(session))


def prepare(text: str, labels: tuple[tuple[str, str], ...] | None) -> Prepared:
    """Classify and embed a petition's text; touches no database, so it can run outside the write transaction."""
    try:
        embedder, _ = INDEX.get()
        # One embedding serves both: stored "query" vectors retrieve each other better than passage ones (bench/retrieval.py).
        vector = embedder.embed([text], kind="query")
    except Exception:  # no embedder or index: route on duty lists and rules alone, say so in the log
        log.exception("similar-case search unavailable")
        embedder, vector = None, None
    return Prepared(text, _predict(text, labels, embedder=embedder, vector=vector), vector)


def do_route(session: Session, *, petition_id: int, prepared: Prepared | None = None) -> RoutingDecision | None:
    """Route one petition (idempotent: a second run replaces the first decision), reusing prepare()'s model work."""
    settings = get_settings()
    petition = session.get(Petition, petition_id)
    if petition is None:
        return None
    now = utcnow()
    if prepared is None or prepared.text != petition_text(petition):
        prepared = prepare(petition_text(petition), zero_shot_labels(session))
    category, confidence, top3, source = prepared.prediction
    if petition.category_id is not None:
        category, confidence, source = category_path(petition), 1.0, "given"
    elif category is not None and confidence >= settings.category_min_confidence:
        node = catalog.resolve_category(session, "/".join(category))
        if node is not None:
            petition.category_id = node.id
    neighbours, vector, embedder_name = [], None, None
    if prepared.vector is not None:
        try:
            neighbours = find_similar(session, petition, prepared.vector)
            vector, embedder_name = prepared.vector[0], INDEX.get()[0].name
        except Exception:  # an index that cannot be searched: route on duty lists and rules alone, say so in the log
            log.exception("similar-case search unavailable for petition %s", petition.id)
            neighbours, vector, embedder_name = [], None, None
    _, duplicate = _thresholds(embedder_name or "")
    session.execute(delete(SimilarLink).where(SimilarLink.petition_id == petition.id))
    repeat_of = None
    for rank, n in enumerate(neighbours):
        kind = "similar"
        if n.score >= duplicate:
            same_person = petition.petitioner_id is not None and n.petition.petitioner_id == petition.petitioner_id
            same_area = (petition.area_code or "")[:6] == (n.petition.area_code or "")[:6] and petition.area_code
            recent = abs(petition.received_at - n.petition.received_at) <= timedelta(days=settings.group_window_days)
            if same_person:
                kind = "repeat"
                repeat_of = repeat_of or n.petition.id
            elif same_area and recent:
                kind = "group"
        session.add(SimilarLink(petition_id=petition.id, similar_id=n.petition.id, score=round(n.score, 4), kind=kind,
                                rank=rank))
    area_label = None
    if petition.area_code:
        area_label = "".join(a.name for a in _area_path(session, petition.area_code) if a.level != "city")
    suggestions = scoring.score_units(
        units=_unit_infos(session), text=petition_text(petition), category=category, category_confidence=confidence,
        area_code=petition.area_code, area_label=area_label, rules=_rules(session),
        similar=[scoring.SimilarCase(n.petition.id, n.petition.tracking_no, n.score, n.petition.lead_unit_id)
                 for n in neighbours if n.petition.lead_unit_id],
        fallback_unit=settings.petition_office_unit)[:3]
    sure = scoring.decide(suggestions, threshold=settings.routing_auto_threshold, margin=settings.routing_auto_margin)
    held = HELD_FOR_TRIAGE.get(petition.contact_type or "")
    if held and suggestions:
        # A person decides where a report of wrongdoing goes (it may name the unit that would handle it), and
        # whether praise needs handling at all; the suggestions still say which unit fits.
        suggestions[0].reasons.append(scoring.Reason("contact_type", held[0], held[1], 0.0))
        sure = False
    dispatched = False
    if sure and petition.status == Status.REGISTERED and petition.lead_unit_id is None:
        _dispatch(session, petition, suggestions[0], now)
        dispatched = True
    decision = session.scalar(select(RoutingDecision).where(RoutingDecision.petition_id == petition.id))
    if decision is None:
        decision = RoutingDecision(petition_id=petition.id)
        session.add(decision)
    decision.category = "/".join(category) if category else None
    decision.category_confidence = round(confidence, 4) if category else None
    decision.category_source, decision.category_top3 = source, top3
    decision.suggestions = [s.as_dict() for s in suggestions]
    decision.auto_assigned = dispatched or decision.auto_assigned
    decision.needs_triage = petition.lead_unit_id is None and Status(petition.status) not in TERMINAL
    decision.repeat_of_id, decision.embedder, decision.created_at = repeat_of, embedder_name, now
    session.flush()
    if vector is not None:
        INDEX.add(petition.id, vector)
    return decision


def _area_path(session: Session, code: str) -> list:
    path, current = [], catalog.get_area(session, code)
    while current is not None:
        path.insert(0, current)
        current = catalog.get_area(session, current.parent_code) if current.parent_code else None
    return path


def _dispatch(session: Session, petition: Petition, best: scoring.Suggestion, now) -> None:
    """Send the petition to the unit the router is sure of; that unit then decides on acceptance."""
    petition.lead_unit_id = best.unit.id
    session.add(Assignment(petition_id=petition.id, unit_id=best.unit.id, role=UnitRole.LEAD, assigned_by=ROUTER.name,
                           assigned_at=now))
    session.flush()
    session.expire(petition, ["assignments"])
    audit.append(session, actor=ROUTER.name, action="dispatch", petition_id=petition.id, from_status=petition.status,
                 to_status=petition.status, reason="automatic: " + "; ".join(r.zh for r in best.reasons)[:1000],
                 data={"unit": best.unit.code, "score": round(min(1.0, best.score / scoring.FULL), 3)}, at=now)


def rebuild_index(session: Session, *, batch: int = 256) -> int:
    """Embed every petition again and replace the persisted index; return how many were indexed."""
    from nlu.embeddings import load_embedder
    from routing.index import VectorIndex, directory_lock

    settings = get_settings()
    embedder = load_embedder(settings.embedder)
    index = VectorIndex.create(embedder_name=embedder.name, dim=embedder.dim)
    last_id, total = 0, 0
    while True:
        rows = list(session.scalars(select(Petition).where(Petition.id > last_id).order_by(Petition.id).limit(batch)))
        if not rows:
            break
        index.add([p.id for p in rows], embedder.embed([petition_text(p) for p in rows], kind="query"))
        last_id, total = rows[-1].id, total + len(rows)
    with directory_lock(_path(settings.index_dir)):
        index.save(_path(settings.index_dir))
    INDEX.reset()
    return total

