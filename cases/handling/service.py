"""Case handling at the desk: notes, attachments, extension requests, supervision notes, reply templates.

Callers fetch the petition with ``cases.service.access`` first (that is where a handler's unit scope is
checked); these functions take the petition object and only ``flush()``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import audit
from cases.clock import Period
from cases.enums import TERMINAL, Action, Status
from cases.handling.models import CaseAttachment, CaseNote, ExtensionRequest, ReplyTemplate, SupervisionNote
from cases.models import Petition
from cases.schemas import TransitionIn
from cases.service import Conflict, Forbidden, Invalid, NotFound, clock, do_transition
from core.accounts import Actor, Role
from core.db import utcnow

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ALLOWED_TYPES = {"application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "text/plain",
                 "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                 "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "audio/mpeg", "audio/wav", "audio/x-wav", "video/mp4"}
# The file name extensions each type may carry; a name without one of them gets the first. A browser saving
# the download goes by the name, so "page.html" sent as image/png must not reach the disk as an .html file.
EXTENSIONS = {"application/pdf": (".pdf",), "image/jpeg": (".jpg", ".jpeg"), "image/png": (".png",), "image/gif": (".gif",),
              "image/webp": (".webp",), "text/plain": (".txt", ".text", ".log", ".csv"), "application/msword": (".doc",),
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
              "application/vnd.ms-excel": (".xls",),
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
              "audio/mpeg": (".mp3",), "audio/wav": (".wav",), "audio/x-wav": (".wav",), "video/mp4": (".mp4",)}
MAX_FILENAME = 200
SUPERVISION_KINDS = ("urge", "supervise", "escalate")
_SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})


def _text(value: str | None, what: str, limit: int = 20000) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(f"{what} is empty")
    if len(value) > limit:
        raise Invalid(f"{what} is longer than {limit} characters")
    return value


def create_note(session: Session, *, petition: Petition, text: str, actor: Actor, now: datetime | None = None
                ) -> CaseNote:
    """Add an internal note to a case."""
    note = CaseNote(petition_id=petition.id, author=actor.name, unit_id=actor.unit_id, text=_text(text, "the note"),
                    created_at=now or utcnow())
    session.add(note)
    session.flush()
    audit.append(session, actor=actor.name, action="note", petition_id=petition.id, data={"note_id": note.id},
                 at=note.created_at)
    return note


def list_notes(session: Session, *, petition: Petition) -> list[CaseNote]:
    """List a case's internal notes, oldest first."""
    return list(session.scalars(select(CaseNote).where(CaseNote.petition_id == petition.id).order_by(CaseNote.id)))


def safe_filename(name: str | None, content_type: str) -> str:
    """Return the name to store and offer an upload under: its last path part, printable, with a fitting extension."""
    # Only ever a label: files live in the database and are never written under this name. Path parts (either
    # slash), control characters, NUL, bidi overrides and zero-width marks (all "not printable") go, and so do
    # leading and trailing dots and spaces ("..", ".htaccess", Windows' "name. ").
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(". ")
    stem, dot, suffix = name.rpartition(".")
    wanted = EXTENSIONS.get(content_type, ())
    if not dot or "." + suffix.lower() not in wanted:
        stem, suffix = name, (wanted[0][1:] if wanted else "")
    stem = stem.rstrip(". ") or "attachment"
    suffix = "." + suffix if suffix else ""
    return stem[:MAX_FILENAME - len(suffix)] + suffix


def create_attachment(session: Session, *, petition: Petition, filename: str, content_type: str, data: bytes,
                      actor: Actor, now: datetime | None = None) -> CaseAttachment:
    """Attach a file to a case; refuse empty, oversized and unexpected kinds of file."""
    content_type = (content_type or "").split(";")[0].strip().lower()
    if not data:
        raise Invalid("the file is empty")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise Invalid(f"the file is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
    if content_type not in ALLOWED_TYPES:
        raise Invalid(f"files of type {content_type or 'unknown'} cannot be attached")
    row = CaseAttachment(petition_id=petition.id, filename=safe_filename(filename, content_type), content_type=content_type,
                         size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data, uploaded_by=actor.name,
                         created_at=now or utcnow())
    session.add(row)
    session.flush()
    audit.append(session, actor=actor.name, action="attach", petition_id=petition.id,
                 data={"attachment_id": row.id, "filename": row.filename, "size": row.size, "sha256": row.sha256},
                 at=row.created_at)
    return row


def list_attachments(session: Session, *, petition: Petition) -> list[CaseAttachment]:
    """List a case's attachments (without loading their bytes twice), oldest first."""
    return list(session.scalars(select(CaseAttachment).where(CaseAttachment.petition_id == petition.id)
                                .order_by(CaseAttachment.id)))


def get_attachment(session: Session, *, petition: Petition, attachment_id: int) -> CaseAttachment:
    """Return one attachment of this case, or raise NotFound."""
    row = session.get(CaseAttachment, attachment_id)
    if row is None or row.petition_id != petition.id:
        raise NotFound("no such attachment on this case")
    return row


def do_request_extension(session: Session, *, petition: Petition, days: int, reason: str, actor: Actor,
                         now: datetime | None = None) -> ExtensionRequest:
    """Ask a supervisor to extend the handling period (once, at most the policy's maximum)."""
    now = now or utcnow()
    if Status(petition.status) not in (Status.ACCEPTED, Status.ASSIGNED, Status.IN_PROGRESS):
        raise Conflict(f"cannot extend a petition that is {petition.status}")
    if petition.extension_days:
        raise Conflict("the handling period has already been extended once")
    limit = clock().period("extension_max").amount
    if not 1 <= days <= limit:
        raise Invalid(f"an extension is 1 to {limit} days")
    pending = session.scalar(select(ExtensionRequest).where(ExtensionRequest.petition_id == petition.id,
                                                            ExtensionRequest.state == "pending"))
    if pending is not None:
        raise Conflict("an extension request for this case is already waiting for a decision")
    row = ExtensionRequest(petition_id=petition.id, days=days, reason=_text(reason, "the reason", 2000),
                           requested_by=actor.name, requested_at=now)
    session.add(row)
    session.flush()
    audit.append(session, actor=actor.name, action="extension_requested", petition_id=petition.id,
                 reason=row.reason, data={"request_id": row.id, "days": days}, at=now)
    return row


def list_extension_requests(session: Session, *, state: str = "pending") -> list[tuple[ExtensionRequest, Petition]]:
    """List extension requests in a state with their petitions, oldest first."""
    rows = session.execute(select(ExtensionRequest, Petition).join(Petition, Petition.id == ExtensionRequest.petition_id)
                           .where(ExtensionRequest.state == state).order_by(ExtensionRequest.requested_at))
    return [(r, p) for r, p in rows]


def list_case_extensions(session: Session, *, petition: Petition) -> list[ExtensionRequest]:
    """List a case's extension requests, oldest first."""
    return list(session.scalars(select(ExtensionRequest).where(ExtensionRequest.petition_id == petition.id)
                                .order_by(ExtensionRequest.id)))


def do_decide_extension(session: Session, *, request_id: int, approve: bool, note: str | None, actor: Actor,
                        now: datetime | None = None) -> ExtensionRequest:
    """Approve (extending the deadline) or reject a pending extension request; supervisors only."""
    now = now or utcnow()
    if actor.role not in _SUPERVISORS:
        raise Forbidden("only a supervisor decides on extensions")
    row = session.scalar(select(ExtensionRequest).where(ExtensionRequest.id == request_id).with_for_update())
    if row is None:
        raise NotFound("no such extension request")
    if row.state != "pending":
        raise Conflict(f"this request was already {row.state}")
    petition = session.get(Petition, row.petition_id)
    if not approve and not (note and note.strip()):
        raise Invalid("say why the extension is refused")
    if approve:
        do_transition(session, tracking_no=petition.tracking_no, actor=actor, now=now,
                      change=TransitionIn(action=Action.EXTEND, days=row.days, reason=row.reason))
    row.state = "approved" if approve else "rejected"
    row.decided_by, row.decided_at, row.decision_note = actor.name, now, (note or "").strip() or None
    session.flush()
    audit.append(session, actor=actor.name, action=f"extension_{row.state}", petition_id=petition.id,
                 reason=row.decision_note, data={"request_id": row.id, "days": row.days}, at=now)
    return row


def do_supervise(session: Session, *, petition: Petition, kind: str, text: str, respond_within_days: int,
                 actor: Actor, now: datetime | None = None) -> SupervisionNote:
    """Send the lead unit an urge, 督办 or escalation note with a deadline for its response."""
    now = now or utcnow()
    if actor.role not in _SUPERVISORS:
        raise Forbidden("only a supervisor supervises")
    if kind not in SUPERVISION_KINDS:
        raise Invalid(f"kind must be one of {', '.join(SUPERVISION_KINDS)}")
    if Status(petition.status) in TERMINAL:
        raise Conflict(f"petition {petition.tracking_no} is {petition.status}")
    if not 1 <= respond_within_days <= 30:
        raise Invalid("the response deadline is 1 to 30 working days")
    respond_by = clock().add(now, Period(amount=respond_within_days, unit="working_days"))
    note = SupervisionNote(petition_id=petition.id, unit_id=petition.lead_unit_id, kind=kind,
                           text=_text(text, "the note", 5000), author=actor.name, created_at=now, respond_by=respond_by)
    session.add(note)
    session.flush()
    audit.append(session, actor=actor.name, action=f"supervision_{kind}", petition_id=petition.id, reason=note.text,
                 data={"note_id": note.id, "respond_by": respond_by.isoformat()}, at=now)
    return note


def do_respond_supervision(session: Session, *, petition: Petition, note_id: int, text: str, actor: Actor,
                           now: datetime | None = None) -> SupervisionNote:
    """Record the unit's response to a supervision note."""
    now = now or utcnow()
    note = session.get(SupervisionNote, note_id)
    if note is None or note.petition_id != petition.id:
        raise NotFound("no such supervision note on this case")
    if note.responded_at is not None:
        raise Conflict("this note has already been answered")
    if actor.role is Role.HANDLER and note.unit_id not in (None, actor.unit_id):
        raise Forbidden("this note is addressed to another unit")
    note.response, note.responded_by, note.responded_at = _text(text, "the response", 5000), actor.name, now
    session.flush()
    audit.append(session, actor=actor.name, action="supervision_response", petition_id=petition.id,
                 data={"note_id": note.id, "late": now > note.respond_by}, at=now)
    return note


def list_supervision(session: Session, *, petition: Petition | None = None, open_only: bool = False,
                     unit_id: int | None = None) -> list[tuple[SupervisionNote, Petition]]:
    """List supervision notes (of one case, or all), newest first."""
    stmt = select(SupervisionNote, Petition).join(Petition, Petition.id == SupervisionNote.petition_id)
    if petition is not None:
        stmt = stmt.where(SupervisionNote.petition_id == petition.id)
    if open_only:
        stmt = stmt.where(SupervisionNote.responded_at.is_(None))
    if unit_id is not None:
        stmt = stmt.where(SupervisionNote.unit_id == unit_id)
    return [(n, p) for n, p in session.execute(stmt.order_by(SupervisionNote.id.desc()))]


def list_templates(session: Session, *, kind: str) -> list[ReplyTemplate]:
    """List the reply templates (kind "reply") or canned responses (kind "canned") by name."""
    return list(session.scalars(select(ReplyTemplate).where(ReplyTemplate.kind == kind).order_by(ReplyTemplate.name)))


def create_template(session: Session, *, kind: str, name: str, text: str, language: str = "zh", actor: Actor
                    ) -> ReplyTemplate:
    """Create a reply template or canned response."""
    if kind not in ("reply", "canned"):
        raise Invalid("kind must be reply or canned")
    row = ReplyTemplate(kind=kind, name=_text(name, "the name", 100), text=_text(text, "the text", 5000),
                        language="en" if language == "en" else "zh", created_by=actor.name)
    session.add(row)
    session.flush()
    return row


def delete_template(session: Session, *, template_id: int) -> None:
    """Delete a template."""
    row = session.get(ReplyTemplate, template_id)
    if row is None:
        raise NotFound("no such template")
    session.delete(row)
    session.flush()


def due_soon_cutoff(now: datetime, hours: int = 72) -> datetime:
    """Return the end of the due-soon window."""
    return now + timedelta(hours=hours)
