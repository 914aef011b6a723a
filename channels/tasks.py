"""Outbound delivery: send outbox messages through their channel adapter, with retries and a dead letter."""

from __future__ import annotations

import logging

from sqlalchemy import select

from channels import registry
from channels.models import OutboxMessage
from channels.service import OutboundMessage
from core.db import get_database, utcnow
from core.tasks import current_attempt, task

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6


@task("channels.send_outbox", max_retries=MAX_ATTEMPTS - 1, retry_backoff=2.0)
def send_outbox(outbox_id: int) -> str:
    """Deliver one outbox message once; a sent or delivered message is never sent again."""
    db = get_database()
    with db.transaction() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update())
        if row is None or row.status in ("sent", "delivered", "failed"):
            return row.status if row else "missing"
        adapter = registry.get(row.channel)
        if adapter is None or adapter.in_band:
            row.status, row.sent_at = ("delivered", utcnow()) if adapter else ("failed", None)
            row.last_error = None if adapter else f"no adapter for channel {row.channel}"
            return row.status
        message = OutboundMessage(row.channel, row.recipient, row.text, list(row.quick_replies or []), row.seq, row.id)
        # An earlier attempt failed or died (a killed worker rolls back its attempt count, but the task
        # record counts it): the platform may already have the message. Adapters that can ask the
        # platform resume instead of sending again; the others send again (at least once).
        suspect = row.attempts > 0 or current_attempt() > 1
        row.attempts += 1
        try:
            if suspect and getattr(adapter, "reconciles", False):
                platform_id = adapter.send(message, resume_since=row.created_at)
            else:
                platform_id = adapter.send(message)
        except registry.DeliveryError as exc:
            row.status, row.last_error = "failed", str(exc)[:2000]
            return "failed"
        except Exception as exc:
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= MAX_ATTEMPTS:
                # The dead letter: kept with its error for an operator to look at.
                row.status = "failed"
                log.error("outbox %s failed after %s attempts: %s", outbox_id, row.attempts, row.last_error)
                return "failed"
            session.commit()  # keep the attempt count and error, then let the runner retry
            raise
        row.status, row.sent_at, row.last_error = "sent", utcnow(), None
        if platform_id:
            row.platform_msg_id = platform_id
        return "sent"
