"""The tamper-evident audit log: append events to a MAC chain and verify it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cases.models import AuditEvent, AuditHead
from core.db import utcnow
from core.security import audit_signer

GENESIS = "0" * 64


def _canonical(seq: int, petition_id: int | None, actor: str, action: str, from_status: str | None,
               to_status: str | None, reason: str | None, data: dict, created_at: datetime, prev_hash: str) -> bytes:
    body = [seq, petition_id, actor, action, from_status, to_status, reason, data,
            created_at.astimezone(UTC).isoformat(timespec="microseconds"), prev_hash]
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def _mac(event: AuditEvent) -> str:
    return audit_signer().sign(_canonical(event.seq, event.petition_id, event.actor, event.action, event.from_status,
                                          event.to_status, event.reason, event.data or {}, event.created_at,
                                          event.prev_hash))


def _lock_head(session: Session) -> AuditHead:
    # The head row is the chain's lock: FOR UPDATE serialises appenders on PostgreSQL; SQLite
    # transactions already hold the write lock (BEGIN IMMEDIATE).
    head = session.scalar(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    return head


def append(session: Session, *, actor: str, action: str, petition_id: int | None = None,
           from_status: str | None = None, to_status: str | None = None, reason: str | None = None,
           data: dict | None = None, at: datetime | None = None) -> AuditEvent:
    """Append one event to the chain; the caller's transaction makes it durable."""
    head = _lock_head(session)
    event = AuditEvent(seq=head.seq + 1, petition_id=petition_id, actor=actor, action=action,
                       from_status=from_status, to_status=to_status, reason=reason, data=data or {},
                       created_at=(at or utcnow()).astimezone(UTC), prev_hash=head.hash)
    event.hash = _mac(event)
    session.add(event)
    head.seq, head.hash = event.seq, event.hash
    session.flush()
    return event


def append_many(session: Session, events: list[dict], *, at: datetime | None = None) -> int:
    """Append events (dicts of append's keywords) under one lock of the head in one INSERT; return the last seq."""
    head = _lock_head(session)
    created = (at or utcnow()).astimezone(UTC)
    seq, prev, rows = head.seq, head.hash, []
    signer = audit_signer()
    for e in events:
        seq += 1
        row = {"seq": seq, "petition_id": e.get("petition_id"), "actor": e["actor"], "action": e["action"],
               "from_status": e.get("from_status"), "to_status": e.get("to_status"), "reason": e.get("reason"),
               "data": e.get("data") or {}, "created_at": created, "prev_hash": prev}
        row["hash"] = prev = signer.sign(_canonical(**row))
        rows.append(row)
    if rows:
        session.execute(insert(AuditEvent), rows)
        head.seq, head.hash = seq, prev
        session.flush()
    return head.seq


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    bad_seq: int | None = None
    bad_id: int | None = None
    problem: str | None = None


def verify(session: Session, *, batch: int = 1000) -> VerifyResult:
    """Walk the chain from the first event and report the first one that does not hold."""
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch)).scalars()
    for event in rows:
        if event.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, None,
                                f"event seq {expected_seq} is missing (next present is {event.seq}): a row was deleted")
        if event.prev_hash != prev_hash:
            return VerifyResult(False, checked, event.seq, event.id, "link to the previous event is broken")
        if event.hash != _mac(event):
            return VerifyResult(False, checked, event.seq, event.id, "contents do not match their MAC: the row was edited")
        prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = session.get(AuditHead, 1)
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        return VerifyResult(False, checked, last_seq + 1, None,
                            f"the chain ends at seq {last_seq} but the head records seq {head.seq}: newest rows were deleted")
    return VerifyResult(True, checked)


def list_for_petition(session: Session, petition_id: int) -> list[AuditEvent]:
    """Return a petition's events, oldest first."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.petition_id == petition_id).order_by(AuditEvent.seq)))
