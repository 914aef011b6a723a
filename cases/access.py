"""Reaching a petition: by tracking number, as staff (unit visibility), as its citizen, or with its query code."""

from __future__ import annotations

import secrets

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cases.errors import NotFound
from cases.models import Petition, Petitioner
from core.accounts import Actor, Role
from core.security import pii

_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_query_code() -> str:
    """Return a fresh 8-character citizen query code."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def query_code_digest(code: str) -> str:
    """Return the keyed hash under which a petition stores its query code."""
    return pii().lookup_hash("query-code:" + code)


def source_digest(channel: str, sender: str) -> str:
    """Return the keyed hash that identifies a channel identity (a WeChat user, a phone, a web chat)."""
    return pii().lookup_hash(f"source:{channel}:{sender}")


def get_by_tracking_no(session: Session, tracking_no: str, *, for_update: bool = False) -> Petition:
    """Return a petition by tracking number, or raise NotFound."""
    stmt = select(Petition).where(Petition.tracking_no == tracking_no)
    if for_update:
        stmt = stmt.with_for_update()
    petition = session.scalar(stmt)
    if petition is None:
        raise NotFound(f"no petition {tracking_no}")
    return petition


def check_visible(session: Session, petition: Petition, actor: Actor) -> None:
    """Refuse a handler who is neither the lead nor an assisting unit of this petition."""
    if actor.role is not Role.HANDLER:
        return
    if actor.unit_id is None or actor.unit_id not in _unit_ids(petition):
        raise NotFound(f"no petition {petition.tracking_no}")


def _unit_ids(petition: Petition) -> set[int]:
    ids = {a.unit_id for a in petition.assignments if a.active}
    if petition.lead_unit_id:
        ids.add(petition.lead_unit_id)
    return ids


def access(session: Session, tracking_no: str, actor: Actor) -> Petition:
    """Return a petition the actor may see, or raise NotFound."""
    petition = get_by_tracking_no(session, tracking_no)
    check_visible(session, petition, actor)
    return petition


def _owned_by(source: str | None, verified_phone: str | None):
    """Return the condition for petitions of a channel identity or of a verified phone number."""
    conditions = []
    if source:
        conditions.append(Petition.source_hash == source)
    if verified_phone:
        # A phone number the channel itself verified (the SMS sender, the caller) is one person everywhere.
        by_phone = select(Petitioner.id).where(Petitioner.phone_hash == pii().lookup_hash(verified_phone))
        conditions.append(Petition.petitioner_id.in_(by_phone))
    return or_(*conditions) if conditions else None


def list_by_source(session: Session, source: str | None, *, verified_phone: str | None = None, limit: int = 5
                   ) -> list[Petition]:
    """List the petitions a channel identity filed, or that carry its verified phone, newest first."""
    condition = _owned_by(source, verified_phone)
    if condition is None:
        return []
    return list(session.scalars(select(Petition).where(condition)
                                .order_by(Petition.received_at.desc(), Petition.id.desc()).limit(limit)))


def access_citizen(session: Session, tracking_no: str, *, source: str | None = None, code: str | None = None,
                   verified_phone: str | None = None) -> Petition:
    """Return a petition for the identity that filed it, its verified phone, or the holder of its query code."""
    condition = _owned_by(source, verified_phone)
    if condition is not None:
        petition = session.scalar(select(Petition).where(Petition.tracking_no == tracking_no.upper(), condition))
        if petition is not None:
            return petition
    if code:
        return access_public(session, tracking_no.upper(), code)
    raise NotFound("no petition with this tracking number for this identity")


def access_public(session: Session, tracking_no: str, code: str) -> Petition:
    """Return a petition for a citizen holding its query code; the same error for a wrong number or code."""
    petition = session.scalar(select(Petition).where(Petition.tracking_no == tracking_no))
    if petition is None or not secrets.compare_digest(petition.query_code_hash, query_code_digest(code.strip().upper())):
        raise NotFound("no petition with this tracking number and query code")
    return petition
