"""Outbound WeChat: outbox messages through the customer-service API, and a template message when a petition moves.

Importing this module registers the "wechat" adapter (customer-service messages) and the "miniprogram"
adapter (in-band: the mini-program reads its replies from the chat API), the tasks ``wechat.send_replies``
and ``wechat.notify_status``, and the subscriber to ``PetitionStatusChanged``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import messages
from bot.models import Conversation, ConversationMessage
from cases import service as cases
from cases.models import Petition
from channels import registry
from channels.service import OutboundMessage
from channels.wechat.client import WeChatAPIError, WeChatClient, get_client
from core.db import get_database, utcnow
from core.events import PetitionStatusChanged, subscribe_in_transaction
from core.settings import get_settings
from core.tasks import enqueue, task

log = logging.getLogger(__name__)

CHANNEL = "wechat"
MINIPROGRAM = "miniprogram"
# WeChat cuts text messages at 2048 bytes; stay below and split longer replies.
MAX_TEXT_BYTES = 2000
# Refusals that a retry cannot turn into a delivery.
PERMANENT = {
    40003: "not an OpenID of this account",
    40037: "unknown template id",
    43004: "the user has unsubscribed",
    45015: "more than 48 hours since the user's last message",
    45047: "too many customer-service messages without an answer from the user",
    48001: "this API is not authorised for the account",
}


class NotConfigured(registry.DeliveryError):
    """The WeChat settings needed for this call are missing."""


def official_client() -> WeChatClient:
    """Return the official account's API client (PETITION_WECHAT_APPID / _APPSECRET / _API_BASE)."""
    settings = get_settings()
    if not (settings.wechat_appid and settings.wechat_appsecret):
        raise NotConfigured("PETITION_WECHAT_APPID and PETITION_WECHAT_APPSECRET must be set to call WeChat")
    return get_client(base_url=settings.wechat_api_base, appid=settings.wechat_appid,
                      secret=settings.wechat_appsecret.get_secret_value())


def miniprogram_client() -> WeChatClient:
    """Return the mini-program's API client (PETITION_MINIPROGRAM_APPID / _SECRET)."""
    settings = get_settings()
    if not (settings.miniprogram_appid and settings.miniprogram_secret):
        raise NotConfigured("PETITION_MINIPROGRAM_APPID and PETITION_MINIPROGRAM_SECRET must be set")
    return get_client(base_url=settings.wechat_api_base, appid=settings.miniprogram_appid,
                      secret=settings.miniprogram_secret.get_secret_value())


def render(text: str, quick_replies: list[str] | None = None) -> str:
    """Render a reply as WeChat text: the quick replies become a line of suggestions the citizen can type."""
    if not quick_replies:
        return text
    return f"{text}\n\n" + " ".join(f"【{q}】" for q in quick_replies)


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Split a text into parts of at most ``limit`` UTF-8 bytes, at line breaks where possible."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        for piece in _cut(line, limit):
            n = len(piece.encode())
            if current and size + n > limit:
                parts.append("".join(current))
                current, size = [], 0
            current.append(piece)
            size += n
    if current:
        parts.append("".join(current))
    return [p.strip("\n") for p in parts if p.strip()] or [text]


def _cut(line: str, limit: int) -> list[str]:
    """Cut one line into pieces of at most ``limit`` bytes, between characters."""
    pieces: list[str] = []
    buf: list[str] = []
    size = 0
    for ch in line:
        n = len(ch.encode())
        if buf and size + n > limit:
            pieces.append("".join(buf))
            buf, size = [], 0
        buf.append(ch)
        size += n
    if buf:
        pieces.append("".join(buf))
    return pieces


class WeChatAdapter:
    """Send outbox messages as customer-service messages (within 48 hours of the citizen's last message)."""

    name = CHANNEL
    # Passive replies are handed back in the webhook's answer; everything else goes through send().
    in_band = False

    def send(self, message: OutboundMessage) -> str | None:
        """Send one message (split if long); a refusal a retry cannot fix raises DeliveryError."""
        client = official_client()
        try:
            for part in split_text(render(message.text, message.quick_replies)):
                client.send_text(message.recipient, part)
        except WeChatAPIError as exc:
            if exc.errcode in PERMANENT:
                raise registry.DeliveryError(f"WeChat errcode {exc.errcode}: {PERMANENT[exc.errcode]}") from exc
            raise
        return None


class MiniProgramAdapter:
    """The mini-program fetches replies from the chat API (agent messages from its history); nothing to send."""

    name = MINIPROGRAM
    in_band = True

    def send(self, message: OutboundMessage) -> str | None:
        """Nothing to do: the mini-program reads the transcript."""
        return None


registry.register(WeChatAdapter())
registry.register(MiniProgramAdapter())


@task("wechat.send_replies", max_retries=6, retry_backoff=2.0)
def send_replies(outbox_ids: list[int]) -> list[str]:
    """Send the replies of one turn in order, each once (a retry resumes where the last attempt stopped)."""
    from channels.tasks import send_outbox

    # One task for the whole turn: separate tasks on a thread pool could deliver the replies out of order.
    return [send_outbox(outbox_id) for outbox_id in outbox_ids]


# Template notifications -------------------------------------------------------------------------------

def find_follower(session: Session, petition: Petition) -> Conversation | None:
    """Return the WeChat conversation that filed the petition (its identity's digest is the petition's source)."""
    if not petition.source_hash:
        return None
    linked = list(session.scalars(select(Conversation).where(
        Conversation.channel == CHANNEL, Conversation.petition_id == petition.id)))
    for conv in linked:
        if cases.source_digest(CHANNEL, conv.external_id) == petition.source_hash:
            return conv
    # The conversation keeps only its latest petition: an earlier one is found by its registration reply.
    told = select(ConversationMessage.conversation_id).where(
        ConversationMessage.direction == "out", ConversationMessage.text.contains(petition.tracking_no))
    for conv in session.scalars(select(Conversation).where(Conversation.channel == CHANNEL, Conversation.id.in_(told))
                                .limit(20)):
        if cases.source_digest(CHANNEL, conv.external_id) == petition.source_hash:
            return conv
    return None


def template_data(*, tracking_no: str, title: str, status: str, locale: str, at: datetime) -> dict:
    """Return the template's fields (first, keyword1-3, remark: the classic work-order status template)."""
    local = at.astimezone(ZoneInfo(get_settings().timezone))
    zh = not (locale or "").lower().startswith("en")
    name = messages.status_name(status, "zh" if zh else "en")
    return {
        "first": {"value": "您反映的事项有新进展" if zh else "There is news about your petition"},
        "keyword1": {"value": tracking_no},
        "keyword2": {"value": name},
        "keyword3": {"value": local.strftime("%Y-%m-%d %H:%M")},
        "remark": {"value": (f"事项：{title}\n回复受理编号 {tracking_no} 查看详情" if zh else
                             f"{title}\nReply with the tracking number {tracking_no} for details")},
    }


@task("wechat.notify_status", max_retries=5, retry_backoff=2.0)
def notify_status(petition_id: int, to_status: str) -> str:
    """Tell the citizen who filed a petition over WeChat that its status changed (a template message)."""
    settings = get_settings()
    if not settings.wechat_template_id:
        return "no template"
    with get_database().session() as session:
        petition = session.get(Petition, petition_id)
        if petition is None:
            return "missing"
        if petition.channel != CHANNEL:
            return "not filed over WeChat"
        if petition.status != to_status:
            # Superseded (accepting a dispatched petition assigns it at once): the later change's task tells.
            return "superseded"
        conv = find_follower(session, petition)
        if conv is None:
            return "no follower"
        openid, locale = conv.external_id, conv.locale
        data = template_data(tracking_no=petition.tracking_no, title=petition.title, status=petition.status,
                             locale=locale, at=utcnow())
    try:
        answer = official_client().send_template(openid, settings.wechat_template_id, data)
    except WeChatAPIError as exc:
        if exc.errcode in PERMANENT:
            log.warning("template message for petition %s refused: %s", petition_id, PERMANENT[exc.errcode])
            return f"refused {exc.errcode}"
        raise
    return str(answer.get("msgid") or "sent")


def notify_status_changed(session: Session, event: PetitionStatusChanged) -> None:
    """Queue the template message for a status change, durably, in the changing transaction."""
    if get_settings().wechat_template_id:
        enqueue(session, "wechat.notify_status", petition_id=event.petition_id, to_status=event.to_status)


subscribe_in_transaction(PetitionStatusChanged, notify_status_changed)
