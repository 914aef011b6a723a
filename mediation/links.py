"""Signed invitation links: one per participant, naming session, participant, nonce and expiry under a MAC.

A link is replaced by giving its participant a new nonce, which makes the old one stop working; how a link
reaches its holder is ``invitations``' business.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.security import Signer
from core.settings import get_settings
from mediation.common import InviteRefused
from mediation.enums import SessionStatus
from mediation.models import MediationParticipant, MediationSession

TOKEN_PURPOSE = b"mediation-invitation"


def _signer() -> Signer:
    return Signer(get_settings().secret_key.get_secret_value(), TOKEN_PURPOSE)


def link_expiry(ms: MediationSession) -> datetime:
    """Return when this session's invitation links stop working (some time after its scheduled end)."""
    return ms.ends_at + timedelta(hours=get_settings().mediation_link_grace_hours)


def invite_token(participant: MediationParticipant, ms: MediationSession | None = None) -> str:
    """Return the signed invitation token of a participant: session, participant, nonce and expiry under a MAC."""
    ms = ms or participant.session
    body = f"{ms.id}.{participant.id}.{participant.nonce}.{int(link_expiry(ms).timestamp())}"
    return f"{body}.{_signer().sign(body.encode())[:32]}"


def join_path(token: str) -> str:
    """Return the path of the join page of a token."""
    return f"/mediation/join/{token}"


def join_url(token: str) -> str:
    """Return the public URL of the join page of a token."""
    return get_settings().public_base_url.rstrip("/") + join_path(token)


@dataclass(frozen=True)
class TokenClaims:
    session_id: int
    participant_id: int
    nonce: str
    expires: int


def read_token(token: str) -> TokenClaims:
    """Check a token's MAC and return its claims; raise InviteRefused("tampered") when it is not ours."""
    parts = (token or "").split(".")
    if len(parts) != 5 or not all(parts):
        raise InviteRefused("tampered", "this is not an invitation link of ours")
    body, mac = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(_signer().sign(body.encode())[:32], mac):
        raise InviteRefused("tampered", "the invitation link has been altered")
    try:
        return TokenClaims(int(parts[0]), int(parts[1]), parts[2], int(parts[3]))
    except ValueError:
        raise InviteRefused("tampered", "the invitation link has been altered") from None


def access_invite(session: Session, token: str, *, session_id: int | None = None, now: datetime | None = None,
                  for_update: bool = False) -> MediationParticipant:
    """Return the participant a link admits; refuse a tampered, expired, revoked or other session's link."""
    claims = read_token(token)
    if session_id is not None and claims.session_id != session_id:
        raise InviteRefused("other_session", "this invitation is for another session")
    now_ts = (now.timestamp() if now else time.time())
    if claims.expires <= now_ts:
        raise InviteRefused("expired", "the invitation link has expired")
    stmt = select(MediationParticipant).where(MediationParticipant.id == claims.participant_id)
    if for_update:
        stmt = stmt.with_for_update()
    participant = session.scalar(stmt)
    if participant is None or participant.session_id != claims.session_id:
        raise InviteRefused("other_session", "this invitation is for another session")
    if not hmac.compare_digest(participant.nonce, claims.nonce):
        raise InviteRefused("revoked", "this invitation link was replaced by a newer one")
    if participant.removed_at is not None:
        raise InviteRefused("removed", "the host removed this participant from the session")
    if participant.session.status == SessionStatus.CANCELLED:
        raise InviteRefused("cancelled", "the session was cancelled")
    return participant
