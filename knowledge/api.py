"""Knowledge-base routes: entries (admins), search and suggestions (staff), contact types."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from cases import service as cases
from cases.models import Petition
from core.accounts import Actor, Role
from core.web import StaffActor, transaction
from knowledge import contact, service
from knowledge.models import KnowledgeEntry
from nlu.contact import classify_contact

router = APIRouter(prefix="/api/v1", tags=["knowledge"])
# Who may correct a petition's contact type: those who act on petitions.
CORRECTORS = {Role.TRIAGE, Role.HANDLER, Role.SUPERVISOR, Role.ADMIN}


class EntryIn(BaseModel):
    question: str = Field(min_length=2, max_length=service.MAX_QUESTION)
    answer: str = Field(min_length=2, max_length=service.MAX_ANSWER)
    category: str | None = Field(default=None, max_length=200, description="code, name or 一级/二级 path")
    unit: str | None = Field(default=None, max_length=40, description="the answering unit's code")
    source: str | None = Field(default=None, max_length=300, description="the policy's name and number, or a URL")
    issued_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    language: str = Field(default="zh", pattern=r"^(zh|en)$")
    status: str = Field(default="published", pattern=r"^(draft|published)$")


class EntryOut(BaseModel):
    id: int
    kind: str
    status: str
    question: str
    answer: str
    category: str | None
    unit: str | None
    unit_name: str | None
    source: str | None
    source_tracking_no: str | None
    issued_on: date | None
    valid_from: date | None
    valid_until: date | None
    valid_now: bool
    language: str
    offered: int
    helpful: int
    not_helpful: int
    created_by: str
    created_at: datetime
    updated_by: str | None
    updated_at: datetime
    retired_at: datetime | None
    retired_by: str | None
    retire_reason: str | None


class EntryPage(BaseModel):
    total: int
    entries: list[EntryOut]


class FoundOut(BaseModel):
    entry: EntryOut
    score: float = Field(description="the fused lexical + dense score (relative to the other candidates)")
    lexical: float = Field(description="cosine similarity of the lexical vectors")
    dense: float | None = Field(description="cosine similarity of the dense vectors (none with a lexical embedder)")
    source_line: str = Field(description="where the answer comes from, as the citizen is told")


class RetireIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class ContactTypeIn(BaseModel):
    contact_type: str = Field(description="complaint | help | proposal | consultation | praise | report")
    reason: str | None = Field(default=None, max_length=2000)


class ClassifyIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)
    title: str | None = Field(default=None, max_length=200)


class ClassifyOut(BaseModel):
    contact_type: str
    label_zh: str
    label_en: str
    confidence: float
    labelled: bool = Field(description="the text names its type itself (我要投诉, I'd like to suggest)")
    cues: list[str]
    scores: dict[str, float]


def _require(actor: Actor, roles: set[Role]) -> None:
    if actor.role not in roles:
        raise HTTPException(403, f"a {actor.role} may not do this")


def _entry_out(session, entry: KnowledgeEntry) -> EntryOut:
    source_no = None
    if entry.source_petition_id:
        petition = session.get(Petition, entry.source_petition_id)
        source_no = petition.tracking_no if petition else None
    today = service.today()
    valid = entry.status != "retired" and (entry.valid_from is None or entry.valid_from <= today) \
        and (entry.valid_until is None or today <= entry.valid_until)
    return EntryOut(
        id=entry.id, kind=entry.kind, status=entry.status, question=entry.question, answer=entry.answer,
        category=entry.category, unit=entry.unit.code if entry.unit else None,
        unit_name=entry.unit.name if entry.unit else None, source=entry.source, source_tracking_no=source_no,
        issued_on=entry.issued_on, valid_from=entry.valid_from, valid_until=entry.valid_until, valid_now=valid,
        language=entry.language, offered=entry.offered or 0, helpful=entry.helpful or 0,
        not_helpful=entry.not_helpful or 0, created_by=entry.created_by, created_at=entry.created_at,
        updated_by=entry.updated_by, updated_at=entry.updated_at, retired_at=entry.retired_at,
        retired_by=entry.retired_by, retire_reason=entry.retire_reason)


def _data(body: EntryIn) -> service.EntryIn:
    return service.EntryIn(**body.model_dump())


def _found_out(session, found: list[service.Found], locale: str = "zh") -> list[FoundOut]:
    return [FoundOut(entry=_entry_out(session, f.entry), score=round(f.hit.score, 4), lexical=round(f.hit.lexical, 4),
                     dense=None if f.hit.dense is None else round(f.hit.dense, 4),
                     source_line=service.source_line(f.entry, locale)) for f in found]


@router.get("/knowledge/entries", response_model=EntryPage)
def list_entries(request: Request, actor: StaffActor, status: str | None = Query(None, pattern=r"^(draft|published|retired)$"),
                 kind: str | None = Query(None, pattern=r"^(policy|reply)$"), q: str | None = Query(None, max_length=200),
                 expired: bool | None = None, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
    """List knowledge-base entries, newest change first (admins)."""
    _require(actor, {Role.ADMIN})
    with transaction(request) as session:
        rows, total = service.list_entries(session, status=status, kind=kind, text=q, expired=expired, limit=limit,
                                           offset=offset)
        return EntryPage(total=total, entries=[_entry_out(session, e) for e in rows])


@router.post("/knowledge/entries", response_model=EntryOut, status_code=201)
def create_entry(request: Request, actor: StaffActor, body: EntryIn):
    """Add an entry: a question, its answer, and where the answer comes from (admins)."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            return _entry_out(session, service.create_entry(session, data=_data(body), actor=actor))
    except service.KnowledgeError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/knowledge/entries/{entry_id}", response_model=EntryOut)
def get_entry(request: Request, actor: StaffActor, entry_id: int):
    """Return one entry (admins)."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            return _entry_out(session, service.get_entry(session, entry_id))
    except service.KnowledgeError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.put("/knowledge/entries/{entry_id}", response_model=EntryOut)
def update_entry(request: Request, actor: StaffActor, entry_id: int, body: EntryIn):
    """Replace an entry's fields (admins); publishing a retired entry brings it back."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            return _entry_out(session, service.update_entry(session, entry_id=entry_id, data=_data(body), actor=actor))
    except service.KnowledgeError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/knowledge/entries/{entry_id}/retire", response_model=EntryOut)
def retire_entry(request: Request, actor: StaffActor, entry_id: int, body: RetireIn | None = None):
    """Retire an entry: nobody is offered it any more (admins)."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            entry = service.do_retire(session, entry_id=entry_id, actor=actor, reason=body.reason if body else None)
            return _entry_out(session, entry)
    except service.KnowledgeError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/knowledge/entries/{entry_id}/publish", response_model=EntryOut)
def publish_entry(request: Request, actor: StaffActor, entry_id: int):
    """Publish a draft (or a retired entry again) so that citizens are offered it (admins)."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            return _entry_out(session, service.do_publish(session, entry_id=entry_id, actor=actor))
    except service.KnowledgeError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/knowledge/replies/{reply_id}/promote", response_model=EntryOut, status_code=201)
def promote_reply(request: Request, actor: StaffActor, reply_id: int):
    """Make a draft entry of an official reply (the existing one if it was drawn before) (admins)."""
    _require(actor, {Role.ADMIN})
    try:
        with transaction(request) as session:
            return _entry_out(session, service.do_promote_reply(session, reply_id=reply_id, actor=actor))
    except service.KnowledgeError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/knowledge/harvest")
def harvest(request: Request, actor: StaffActor, limit: int = Query(500, ge=1, le=5000)) -> dict:
    """Draw the final replies of closed petitions in as drafts; say how many were added (admins)."""
    _require(actor, {Role.ADMIN})
    with transaction(request) as session:
        return {"added": service.do_harvest(session, actor=actor, limit=limit)}


@router.get("/knowledge/search", response_model=list[FoundOut])
def search(request: Request, actor: StaffActor, q: str = Query(min_length=1, max_length=2000), k: int = Query(5, ge=1, le=20),
           audience: str = Query("staff", pattern=r"^(staff|citizen)$"), on: date | None = None,
           relevant_only: bool = True):
    """Search the entries valid on a day (today); "citizen" shows what the bot would offer."""
    with transaction(request) as session:
        found = service.search(session, q, k=k, audience=audience, on=on, relevant_only=relevant_only)
        return _found_out(session, found)


@router.get("/knowledge/stats")
def stats(request: Request, actor: StaffActor) -> dict:
    """Count entries by status and the bot's answers by verdict (admins, supervisors, analysts)."""
    _require(actor, {Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})
    with transaction(request) as session:
        return {"entries": service.counts(session), "answers": service.answer_stats(session)}


@router.get("/petitions/{tracking_no}/knowledge", response_model=list[FoundOut])
def petition_suggestions(request: Request, actor: StaffActor, tracking_no: str, k: int = Query(3, ge=1, le=10)):
    """Suggest knowledge-base answers for a petition (staff who may see it)."""
    try:
        with transaction(request) as session:
            petition = cases.access(session, tracking_no, actor)
            return _found_out(session, service.suggestions_for(session, petition, k=k))
    except cases.CaseError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.put("/petitions/{tracking_no}/contact-type")
def set_contact_type(request: Request, actor: StaffActor, tracking_no: str, body: ContactTypeIn) -> dict:
    """Correct a petition's contact type (投诉, 求助, 建议, 咨询, 表扬, 举报)."""
    _require(actor, CORRECTORS)
    try:
        with transaction(request) as session:
            petition = cases.access(session, tracking_no, actor)
            contact.do_set_contact_type(session, petition=petition, contact_type=body.contact_type, actor=actor,
                                        reason=body.reason)
            return {"tracking_no": petition.tracking_no, "contact_type": petition.contact_type}
    except cases.CaseError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except contact.ContactTypeError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/contact-type", response_model=ClassifyOut)
def classify(actor: StaffActor, body: ClassifyIn):
    """Classify a text's contact type, with the cue phrases that decided it."""
    guess = classify_contact(body.text, title=body.title)
    return ClassifyOut(contact_type=guess.type.value, label_zh=guess.label_zh, label_en=guess.label_en,
                       confidence=guess.confidence, labelled=guess.labelled, cues=list(guess.cues), scores=guess.scores)
