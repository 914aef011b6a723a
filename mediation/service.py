"""Mediation sessions: scheduling with a conflict check, who may see and run them, invitations re-sent, cancelling.

Every step that matters to the case (scheduled, invited, started, admitted, removed, agreement proposed and
confirmed, ended, no agreement, recordings) is an event in the case's audit chain. Signed invitation links
are in ``links``, who is in the room (joining, the host's admit, remove and mute, the attendance at the end)
in ``attendance``; this module re-exports them so that callers import the whole interface from here.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from cases import audit
from cases.enums import TERMINAL, Status
from cases.models import Petition
from cases.service import CaseError, Conflict, Forbidden, Invalid, access, check_visible
from core.accounts import Actor, Role, User, get_by_username
from core.db import utcnow
from core.settings import get_settings
from mediation import invitations
from mediation.attendance import (
    do_admit,
    do_join,
    do_leave,
    do_mute,
    do_remove,
    host_actor,
    host_actor_for,
    is_admitted,
    record_end,
)
from mediation.common import InviteRefused, MediationError, SessionNotFound, audit_person
from mediation.enums import (
    MAX_REPRESENTATIVES,
    MEDIATORS,
    PARTIES,
    PETITIONER_SIDE,
    InviteStatus,
    Kind,
    ParticipantRole,
    SessionStatus,
)
from mediation.links import (
    TOKEN_PURPOSE,
    TokenClaims,
    access_invite,
    invite_token,
    join_path,
    join_url,
    link_expiry,
    read_token,
)
from mediation.models import MediationParticipant, MediationSession
from mediation.schemas import ParticipantIn, SessionCreate

__all__ = ["MANAGERS", "OPEN", "SCHEDULERS", "TOKEN_PURPOSE", "InviteRefused", "MediationError", "SessionNotFound",
           "TokenClaims", "access_invite", "access_managed", "access_session", "audit_person", "can_manage",
           "check_conflicts", "create_session", "do_admit", "do_cancel", "do_end_call", "do_join", "do_leave", "do_mute",
           "do_reissue_invitation", "do_remove", "get_session", "host_actor", "host_actor_for", "host_participant",
           "invite_token", "is_admitted", "join_path", "join_url", "link_expiry", "list_for_petition", "list_sessions",
           "participant_of", "petition_of", "read_token", "record_end", "token_for_staff"]

# Staff who schedule and host sessions.
SCHEDULERS = frozenset({Role.HANDLER, Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN})
MANAGERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
OPEN = (SessionStatus.SCHEDULED, SessionStatus.LIVE)


def get_session(session: Session, session_id: int, *, for_update: bool = False) -> MediationSession:
    """Return a session by id, or raise SessionNotFound."""
    stmt = select(MediationSession).where(MediationSession.id == session_id).options(
        selectinload(MediationSession.participants))
    if for_update:
        # Locked: read what the transaction that held the lock before us committed, not what we loaded earlier.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    ms = session.scalar(stmt)
    if ms is None:
        raise SessionNotFound(f"no mediation session {session_id}")
    return ms


def petition_of(session: Session, ms: MediationSession) -> Petition:
    """Return the petition a session is about."""
    return session.get(Petition, ms.petition_id)


def _staff(session: Session, username: str, what: str) -> User:
    user = get_by_username(session, username)
    if user is None or not user.active:
        raise Invalid(f"{what}: no active staff account {username!r}")
    return user


def check_conflicts(session: Session, *, usernames: set[str], starts_at: datetime, ends_at: datetime,
                    exclude_id: int | None = None) -> None:
    """Refuse when one of these staff members is already in a session that overlaps this time."""
    if not usernames:
        return
    # Lock the staff accounts: two schedulers booking the same person at once are serialised here
    # (SQLite transactions already hold the write lock).
    session.execute(select(User.id).where(User.username.in_(usernames)).with_for_update()).all()
    overlapping = select(MediationSession).where(
        MediationSession.status.in_(OPEN), MediationSession.starts_at < ends_at, MediationSession.ends_at > starts_at)
    if exclude_id is not None:
        overlapping = overlapping.where(MediationSession.id != exclude_id)
    busy = select(MediationParticipant.session_id).where(MediationParticipant.username.in_(usernames),
                                                         MediationParticipant.removed_at.is_(None))
    for other in session.scalars(overlapping.where(or_(MediationSession.host.in_(usernames),
                                                       MediationSession.id.in_(busy))).order_by(MediationSession.starts_at)):
        names = {p.username for p in other.participants if p.username} | {other.host}
        who = ", ".join(sorted(names & usernames))
        tz = ZoneInfo(get_settings().timezone)
        raise Conflict(f"{who} already has mediation session #{other.id} from "
                       f"{other.starts_at.astimezone(tz):%Y-%m-%d %H:%M} to {other.ends_at.astimezone(tz):%H:%M}")


def _default_party(role: ParticipantRole) -> bool:
    return role in PARTIES


def _host_role(user: User) -> ParticipantRole:
    return ParticipantRole.ADMINISTRATIVE if user.role == Role.HANDLER else ParticipantRole.PETITION_OFFICE


def create_session(session: Session, *, data: SessionCreate, actor: Actor, now: datetime | None = None
                   ) -> MediationSession:
    """Schedule a session for a petition, check staff conflicts and limits, and send the invitations."""
    now = now or utcnow()
    settings = get_settings()
    if actor.role not in SCHEDULERS:
        raise Forbidden(f"a {actor.role} may not schedule mediation")
    petition = access(session, data.tracking_no, actor)
    if Status(petition.status) in TERMINAL:
        raise Conflict(f"petition {petition.tracking_no} is {petition.status}; there is nothing left to mediate")
    if data.starts_at < now - timedelta(minutes=5):
        raise Invalid("the session cannot start in the past")
    starts_at = data.starts_at
    ends_at = starts_at + timedelta(minutes=data.duration_minutes)
    host_name = data.host or actor.name
    host = _staff(session, host_name, "host")
    if Role(host.role) not in SCHEDULERS:
        raise Invalid(f"{host_name} is a {host.role} and cannot host a mediation session")
    if Role(host.role) is Role.HANDLER:
        check_visible(session, petition, Actor.of(host))

    invitees: list[ParticipantIn] = list(data.participants)
    usernames = [p.username for p in invitees if p.username]
    if len(usernames) != len(set(usernames)):
        raise Invalid("the same staff member is named twice")
    if host_name not in usernames:
        invitees.insert(0, ParticipantIn(role=_host_role(host), username=host_name))
    rows: list[MediationParticipant] = []
    petitioner = petition.petitioner
    for p in invitees:
        if p.username:
            if p.role in PETITIONER_SIDE:
                raise Invalid(f"a {p.role} is a citizen, not a staff account ({p.username})")
            user = _staff(session, p.username, p.role)
            name = p.name or user.display_name or user.username
        else:
            name = p.name
            if p.role is ParticipantRole.PETITIONER and petitioner is not None:
                name = name or petitioner.name
            if not name:
                raise Invalid(f"name the {p.role} (or give a staff username)")
        phone = p.phone
        if p.role is ParticipantRole.PETITIONER and not phone and petitioner is not None:
            phone = petitioner.phone
        locale = p.locale or (petition.language if p.role in PETITIONER_SIDE else "zh")
        rows.append(MediationParticipant(
            role=p.role, username=p.username, name=name, organisation=p.organisation, phone=phone,
            locale="en" if locale == "en" else "zh", is_host=p.username == host_name,
            party=_default_party(p.role) if p.party is None else p.party, nonce=secrets.token_hex(8),
            invite_status=InviteStatus.PENDING))

    side = sum(1 for r in rows if r.role in PETITIONER_SIDE)
    if side == 0:
        raise Invalid("invite the petitioner or their representatives")
    if petition.is_collective and side > MAX_REPRESENTATIVES:
        raise Invalid(f"a collective petition sends at most {MAX_REPRESENTATIVES} representatives ({side} named)")
    if data.kind is Kind.JOINT and len({r.role for r in rows if r.role in MEDIATORS | {ParticipantRole.ADMINISTRATIVE}}) < 2:
        raise Invalid("a joint mediation brings together at least two mediation bodies (petition office, people's "
                      "mediation, the competent department, the court)")
    provider = settings.mediation_provider
    if provider == "mesh" and len(rows) > settings.mediation_mesh_max:
        raise Invalid(f"{len(rows)} participants are more than a peer-to-peer session carries "
                      f"({settings.mediation_mesh_max}); configure the LiveKit provider for larger sessions")
    check_conflicts(session, usernames={r.username for r in rows if r.username}, starts_at=starts_at, ends_at=ends_at)

    kind_zh = "视频接访" if data.kind is Kind.RECEPTION else "联合调解"
    ms = MediationSession(petition_id=petition.id, kind=data.kind, title=data.title or f"{kind_zh}：{petition.title}"[:200],
                          status=SessionStatus.SCHEDULED, starts_at=starts_at, ends_at=ends_at, host=host_name,
                          created_by=actor.name, created_at=now, provider=provider, room=secrets.token_hex(12),
                          participants=rows)
    session.add(ms)
    session.flush()
    audit.append(session, actor=actor.name, action="mediation_scheduled", petition_id=petition.id, at=now,
                 data={"session_id": ms.id, "kind": str(ms.kind), "starts_at": starts_at.isoformat(),
                       "ends_at": ends_at.isoformat(), "host": host_name,
                       "participants": [audit_person(r) for r in rows]})
    sent = {}
    for row in rows:
        sent[str(row.id)] = invitations.notify_invitation(session, ms=ms, participant=row, petition=petition,
                                                          token=invite_token(row, ms), now=now)
    audit.append(session, actor=actor.name, action="mediation_invited", petition_id=petition.id, at=now,
                 data={"session_id": ms.id, "invitations": sent})
    return ms


def access_session(session: Session, session_id: int, actor: Actor) -> MediationSession:
    """Return a session the actor takes part in or may see through its petition, or raise SessionNotFound."""
    ms = get_session(session, session_id)
    if actor.name == ms.host or any(p.username == actor.name for p in ms.participants):
        return ms
    if actor.role not in SCHEDULERS:
        raise SessionNotFound(f"no mediation session {session_id}")
    try:
        check_visible(session, petition_of(session, ms), actor)
    except CaseError:
        raise SessionNotFound(f"no mediation session {session_id}") from None
    return ms


def can_manage(ms: MediationSession, actor: Actor) -> bool:
    """Tell whether the actor runs this session (its host, who scheduled it, or a supervisor)."""
    return actor.name in (ms.host, ms.created_by) or actor.role in MANAGERS


def access_managed(session: Session, session_id: int, actor: Actor) -> MediationSession:
    """Return a session the actor runs, locked for this transaction; raise Forbidden for anyone else."""
    ms = access_session(session, session_id, actor)
    if not can_manage(ms, actor):
        raise Forbidden("only the host (or a supervisor) runs this session")
    session.refresh(ms, with_for_update=True)
    return ms


def list_sessions(session: Session, *, actor: Actor, include_past: bool = True, limit: int = 100
                  ) -> list[MediationSession]:
    """List the sessions the actor hosts or is invited to (supervisors see all), soonest first."""
    stmt = select(MediationSession).options(selectinload(MediationSession.participants))
    if actor.role not in MANAGERS:
        mine = select(MediationParticipant.session_id).where(MediationParticipant.username == actor.name)
        stmt = stmt.where(or_(MediationSession.host == actor.name, MediationSession.created_by == actor.name,
                              MediationSession.id.in_(mine)))
    if not include_past:
        stmt = stmt.where(MediationSession.status.in_(OPEN))
    return list(session.scalars(stmt.order_by(MediationSession.starts_at.desc()).limit(limit)))


def list_for_petition(session: Session, *, petition_id: int) -> list[MediationSession]:
    """List a petition's sessions, newest first."""
    return list(session.scalars(select(MediationSession).where(MediationSession.petition_id == petition_id)
                                .options(selectinload(MediationSession.participants))
                                .order_by(MediationSession.starts_at.desc())))


def participant_of(ms: MediationSession, participant_id: int) -> MediationParticipant:
    """Return a participant of this session, or raise SessionNotFound."""
    for p in ms.participants:
        if p.id == participant_id:
            return p
    raise SessionNotFound(f"no participant {participant_id} in session {ms.id}")


def host_participant(ms: MediationSession) -> MediationParticipant | None:
    """Return the host's participant row."""
    return next((p for p in ms.participants if p.is_host), None)


def do_reissue_invitation(session: Session, *, session_id: int, participant_id: int, actor: Actor,
                          now: datetime | None = None) -> str:
    """Replace a participant's link (the old one stops working), let a removed participant back, and resend it."""
    now = now or utcnow()
    ms = access_managed(session, session_id, actor)
    if ms.status not in OPEN:
        raise Conflict(f"the session is {ms.status}")
    p = participant_of(ms, participant_id)
    p.nonce, p.removed_at = secrets.token_hex(8), None
    token = invite_token(p, ms)
    status = invitations.notify_invitation(session, ms=ms, participant=p, petition=petition_of(session, ms), token=token,
                                           now=now)
    audit.append(session, actor=actor.name, action="mediation_invited", petition_id=ms.petition_id, at=now,
                 data={"session_id": ms.id, "invitations": {str(p.id): status}, "reissued": True})
    return token


def token_for_staff(session: Session, *, session_id: int, actor: Actor) -> str:
    """Return the signed-in staff member's own link to a session (the console's Join button)."""
    ms = get_session(session, session_id)
    for p in ms.participants:
        if p.username == actor.name and p.removed_at is None:
            return invite_token(p, ms)
    raise Forbidden("you are not invited to this session")


def do_cancel(session: Session, *, session_id: int, reason: str, actor: Actor, now: datetime | None = None
              ) -> MediationSession:
    """Cancel a session that has not begun and tell the participants."""
    now = now or utcnow()
    ms = access_managed(session, session_id, actor)
    if ms.status != SessionStatus.SCHEDULED:
        raise Conflict(f"only a scheduled session can be cancelled (this one is {ms.status})")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("say why the session is cancelled")
    ms.status, ms.ended_at = SessionStatus.CANCELLED, now
    petition = petition_of(session, ms)
    for p in ms.participants:
        invitations.notify_cancelled(session, ms=ms, participant=p, petition=petition, now=now)
    audit.append(session, actor=actor.name, action="mediation_cancelled", petition_id=ms.petition_id, reason=reason,
                 data={"session_id": ms.id}, at=now)
    return ms


def do_end_call(session: Session, *, session_id: int, actor: Actor, now: datetime | None = None) -> MediationSession:
    """End the video call; the attendance goes into the case's history. Parties may still confirm an agreement."""
    now = now or utcnow()
    ms = access_managed(session, session_id, actor)
    return record_end(session, ms, actor.name, now)
