"""The official account's messages: each posted message opened, stored once and answered once.

WeChat resends a MsgId it got no answer for within five seconds (three tries in all). Each turn runs on its
own thread (``flights``); a delivery waits for it until its deadline. A turn that finishes in time is
answered with a passive reply; otherwise the answer is ``success`` and the replies leave through the
customer-service API once the turn is done. The outbox rows decide which of the two happened, so a reply
is delivered once however many deliveries (or processes) race: rows are born ``delivered`` (in band), a
passive answer claims them (``platform_msg_id = 'passive'``) and a hand-over turns unclaimed ones
``pending`` for the sender, each with one conditional UPDATE.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from sqlalchemy import or_, select, update

from channels import service as inbox
from channels.models import InboxMessage, OutboxMessage
from channels.service import InboundMessage, Result
from channels.wechat import parse
from channels.wechat.adapter import CHANNEL, NotConfigured, render
from channels.wechat.flights import Flights
from channels.wechat.media import WeChatMedia
from core.db import Database
from core.settings import get_settings
from core.tasks import enqueue

log = logging.getLogger(__name__)

# A passive reply is one text message: longer turns go out as several customer-service messages.
PASSIVE_MAX_BYTES = 2000
PASSIVE = "passive"

flights = Flights()


class TurnFailed(Exception):
    """The turn failed while a delivery waited; the inbox keeps the message as failed for WeChat's resend."""


def get_credentials() -> parse.Credentials:
    """Return the official account's callback credentials; NotConfigured when they are missing or invalid."""
    settings = get_settings()
    if settings.wechat_token is None:
        raise NotConfigured("the WeChat channel is not configured (PETITION_WECHAT_TOKEN)")
    try:
        return parse.Credentials(token=settings.wechat_token.get_secret_value(), appid=settings.wechat_appid,
                                 aes_key=settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else None)
    except ValueError as exc:
        log.error("WeChat channel misconfigured: %s", exc)
        raise NotConfigured(f"the WeChat channel is misconfigured: {exc}") from None


def do_message(db: Database, *, credentials: parse.Credentials, body: bytes, query: Mapping[str, str],
               deadline: float) -> str | None:
    """Open a posted message and run its turn until ``deadline`` (monotonic); return the passive reply, or None."""
    message, encrypted = parse.open_envelope(body, query, credentials)
    if not message.actionable:
        return None
    flight = flights.join((message.openid, message.platform_id), lambda: _turn(db, message), lambda r: hand_over(db, r))
    if not flights.wait(flight, max(0.0, deadline - time.monotonic())):
        return None  # the turn goes on; its replies leave through the customer-service API
    if isinstance(flight.error, parse.WebhookError):
        raise flight.error
    if flight.error is not None:
        # Nothing was lost: the inbox keeps the message as failed and WeChat's resend processes it again.
        raise TurnFailed(str(flight.error)) from flight.error
    text = claim_passive(db, flight.result)
    if text is None:
        return None
    xml = parse.render_text_reply(to_user=message.openid, from_user=message.account, content=text,
                                  create_time=message.create_time)
    if encrypted:
        xml = parse.seal(xml, credentials, nonce=query["nonce"], timestamp=query["timestamp"])
    return xml


def _turn(db: Database, message: parse.WeChatMessage) -> Result:
    platform_id = message.platform_id
    sender = _stored_sender(db, platform_id)
    if sender is None:
        inbound = parse.to_inbound(message, channel=CHANNEL, media=WeChatMedia())
        inbox.store(db, inbound)
        sender = _stored_sender(db, platform_id)
    else:
        # A resend: the stored copy is what counts; do not download or transcribe its media again.
        inbound = InboundMessage(channel=CHANNEL, sender=message.openid, message_id=platform_id)
    if sender != message.openid:
        # The inbox is keyed on MsgId alone: never let another sender reach (or be answered with) that message.
        raise parse.Forbidden("this MsgId belongs to another sender")
    return inbox.receive(db, inbound, in_band=True)


def _stored_sender(db: Database, platform_id: str) -> str | None:
    with db.session() as session:
        return session.scalar(select(InboxMessage.sender).where(InboxMessage.channel == CHANNEL,
                                                                InboxMessage.platform_msg_id == platform_id))


def claim_passive(db: Database, result: Result | None) -> str | None:
    """Claim a turn's replies for a passive answer and return its text; None when they go (or went) another way."""
    if result is None:
        return None
    ids = [r.outbox_id for r in result.replies if r.outbox_id]
    if not ids:
        return None
    text = "\n\n".join(render(r.text, r.quick_replies) for r in result.replies)
    if len(text.encode()) > PASSIVE_MAX_BYTES:
        hand_over(db, result)
        return None
    with db.transaction() as session:
        claimed = session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(ids), OutboxMessage.status == "delivered",
            or_(OutboxMessage.platform_msg_id.is_(None), OutboxMessage.platform_msg_id == PASSIVE))
            .values(platform_msg_id=PASSIVE).execution_options(synchronize_session=False)).rowcount
    return text if claimed == len(ids) else None


def hand_over(db: Database, result: Result) -> int:
    """Send a turn's unclaimed replies through the customer-service API; return how many were handed over."""
    ids = [r.outbox_id for r in result.replies if r.outbox_id]
    if not ids:
        return 0
    with db.transaction() as session:
        rows = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.id.in_(ids), OutboxMessage.status == "delivered", OutboxMessage.platform_msg_id.is_(None))
            .order_by(OutboxMessage.id).with_for_update()))
        for row in rows:
            row.status, row.sent_at, row.attempts = "pending", None, 0
        if rows:
            enqueue(session, "wechat.send_replies", outbox_ids=[row.id for row in rows])
    return len(rows)
