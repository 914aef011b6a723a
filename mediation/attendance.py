"""Who is in the room: joining and leaving, the host's admit, remove and mute, and the attendance when the call ends.

The host acts from the room through their own invitation link, so these functions take the host's
participant row rather than a staff actor; ``host_actor_for`` finds the staff account behind it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cases import audit
from cases.service import Conflict, Forbidden
from core.accounts import Actor, get_by_username
from core.db import utcnow
from mediation.common import InviteRefused, SessionNotFound, audit_person
from mediation.enums import SessionStatus
from mediation.models import MediationParticipant, MediationSession


def is_admitted(p: MediationParticipant) -> bool:
    """Tell whether a participant may be in the room: the host and staff directly, others once the host admits them."""
    return p.removed_at is None and (p.is_host or p.username is not None or p.admitted_at is not None)


def do_join(session: Session, *, participant: MediationParticipant, now: datetime | None = None) -> None:
    """Record that a participant opened the room; the host opening it starts the session."""
    now = now or utcnow()
    ms = participant.session
    if ms.status == SessionStatus.ENDED:
        raise Conflict("the session has ended")
    participant.joined_at = participant.joined_at or now
    participant.left_at = None
    if participant.is_host and ms.status == SessionStatus.SCHEDULED:
        ms.status, ms.started_at = SessionStatus.LIVE, now
        audit.append(session, actor=participant.username or "mediation", action="mediation_started",
                     petition_id=ms.petition_id, data={"session_id": ms.id}, at=now)
    session.flush()


def do_leave(session: Session, *, participant_id: int, now: datetime | None = None) -> None:
    """Record that a participant left the room."""
    p = session.get(MediationParticipant, participant_id)
    if p is not None:
        p.left_at = now or utcnow()
        session.flush()


def host_actor(session: Session, ms: MediationSession) -> Actor | None:
    """Return the host's staff actor, or None when the account is gone or inactive."""
    user = get_by_username(session, ms.host)
    return Actor.of(user) if user is not None and user.active else None


def host_actor_for(session: Session, participant: MediationParticipant) -> Actor:
    """Return the staff actor behind a host's link (for acting in the host's name from the room)."""
    actor = host_actor(session, participant.session) if participant.is_host else None
    if actor is None:
        raise Forbidden("only the host may do this")
    return actor


def _host_target(session: Session, host: MediationParticipant, participant_id: int) -> MediationParticipant:
    """Return the participant a host acts on; refuse a non-host, another session's participant, or the host."""
    target = session.get(MediationParticipant, participant_id)
    if target is None:
        raise SessionNotFound(f"no participant {participant_id}")
    if not host.is_host:
        raise Forbidden("only the host may do this")
    if target.session_id != host.session_id:
        raise InviteRefused("other_session", "that participant is in another session")
    if target.is_host:
        raise Conflict("the host cannot do this to themselves")
    return target


def do_admit(session: Session, *, host: MediationParticipant, participant_id: int, now: datetime | None = None
             ) -> MediationParticipant:
    """Let a waiting participant into the room (host only)."""
    now = now or utcnow()
    target = _host_target(session, host, participant_id)
    if target.removed_at is not None:
        raise Conflict("this participant was removed; send them a new invitation first")
    if target.admitted_at is None:
        target.admitted_at = now
        audit.append(session, actor=host.username or "host", action="mediation_admitted", petition_id=host.session.petition_id,
                     data={"session_id": host.session_id, "participant_id": target.id, "role": str(target.role)}, at=now)
    session.flush()
    return target


def do_remove(session: Session, *, host: MediationParticipant, participant_id: int, now: datetime | None = None
              ) -> MediationParticipant:
    """Remove a participant from the room; their link stops working (host only)."""
    now = now or utcnow()
    target = _host_target(session, host, participant_id)
    if target.removed_at is None:
        target.removed_at, target.left_at = now, now
        audit.append(session, actor=host.username or "host", action="mediation_removed", petition_id=host.session.petition_id,
                     data={"session_id": host.session_id, "participant_id": target.id, "role": str(target.role)}, at=now)
    session.flush()
    return target


def do_mute(session: Session, *, host: MediationParticipant, participant_id: int, muted: bool) -> MediationParticipant:
    """Mute a participant (or let them speak again); their own client keeps the microphone off while muted."""
    target = _host_target(session, host, participant_id)
    target.muted = bool(muted)
    session.flush()
    return target


def record_end(session: Session, ms: MediationSession, actor_name: str, now: datetime) -> MediationSession:
    """End a session's call and write the attendance into the case's history (the caller holds the row lock)."""
    if ms.status == SessionStatus.CANCELLED:
        raise Conflict("the session was cancelled")
    if ms.status != SessionStatus.ENDED:
        ms.status, ms.ended_at = SessionStatus.ENDED, now
        for p in ms.participants:
            if p.joined_at is not None and (p.left_at is None or p.left_at > now):
                p.left_at = now
        audit.append(session, actor=actor_name, action="mediation_ended", petition_id=ms.petition_id, at=now,
                     data={"session_id": ms.id, "started_at": ms.started_at.isoformat() if ms.started_at else None,
                           "ended_at": now.isoformat(), "attendance": [
                               {**audit_person(p), "joined_at": p.joined_at.isoformat() if p.joined_at else None,
                                "left_at": p.left_at.isoformat() if p.left_at else None} for p in ms.participants]})
    session.flush()
    return ms
