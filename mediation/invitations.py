"""Invitations, reminders and cancellations: to citizens through the channel their petition came in on, to staff in the console.

A citizen's message goes into the conversation that filed the petition (web chat, WeChat, SMS, phone → SMS)
and out through the outbox after commit, exactly like an agent's message. Someone with only a phone number
gets an SMS; someone we cannot reach gets nothing, and the host passes the link on by hand.

This module reaches into ``bot`` and ``channels`` (above mediation in the layering) on purpose and
lazily: the outbox is the one way a message leaves for a citizen, and a second one would be worse.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Petition
from core.settings import get_settings
from mediation.enums import InviteStatus, Kind, ParticipantRole
from mediation.links import join_url, link_expiry

KIND_WORDS = {Kind.RECEPTION: ("视频接访", "video reception"), Kind.JOINT: ("联合调解", "joint mediation")}


def _local(at: datetime) -> str:
    return at.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d %H:%M")


def e164(phone: str | None) -> str | None:
    """Return a phone number in E.164 (mainland mobiles get +86), or None when it is not one."""
    digits = re.sub(r"[\s\-()]", "", phone or "")
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return "+86" + digits
    if re.fullmatch(r"\+[1-9]\d{6,14}", digits):
        return digits
    return None


def find_follower(session: Session, petition: Petition):
    """Return the conversation that filed the petition (on its own channel), or None."""
    from bot.models import Conversation, ConversationMessage
    from cases.service import source_digest

    if not petition.source_hash:
        return None
    channel = petition.channel
    linked = session.scalars(select(Conversation).where(Conversation.channel == channel,
                                                        Conversation.petition_id == petition.id))
    for conv in linked:
        if source_digest(channel, conv.external_id) == petition.source_hash:
            return conv
    # A conversation keeps only its latest petition: an earlier one is found by its registration reply.
    told = select(ConversationMessage.conversation_id).where(
        ConversationMessage.direction == "out", ConversationMessage.text.contains(petition.tracking_no))
    for conv in session.scalars(select(Conversation).where(Conversation.channel == channel, Conversation.id.in_(told))
                                .limit(20)):
        if source_digest(channel, conv.external_id) == petition.source_hash:
            return conv
    return None


def _route(session: Session, participant, petition: Petition):
    """Return the conversation to write to, or None when this person cannot be reached."""
    from bot import service as conversations
    from channels.sms.adapter import is_opted_out

    if participant.role == ParticipantRole.PETITIONER:
        conv = find_follower(session, petition)
        if conv is not None:
            return conv
    number = e164(participant.phone)
    if number is None:
        return None
    conversations.ensure(session, channel="sms", external_id=number, locale=participant.locale)
    conv = conversations.get_by_identity(session, channel="sms", external_id=number)
    return None if is_opted_out(conv) else conv


def _send(session: Session, conv, text: str) -> None:
    from bot import service as conversations
    from channels.service import enqueue_agent_message

    conv = conversations.get(session, conv.id, for_update=True)
    line = conversations.record(session, conv, direction="out", author="mediation", text=text)
    enqueue_agent_message(session, conv=conv, seq=line.seq, text=text)


def invitation_text(*, ms, participant, petition: Petition, url: str, expires: datetime, locale: str) -> str:
    """Return the invitation message in the participant's language."""
    zh_kind, en_kind = KIND_WORDS[Kind(ms.kind)]
    when = _local(ms.starts_at)
    if locale == "en":
        return (f"You are invited to a {en_kind} about petition {petition.tracking_no} at {when}. "
                f"Open this link in a phone or computer browser to join: {url} "
                f"(valid until {_local(expires)}; do not pass it on).")
    return (f"【信访{zh_kind}】您受邀参加信访事项{petition.tracking_no}的{zh_kind}，时间：{when}。"
            f"请届时用手机或电脑浏览器打开链接加入：{url} （{_local(expires)}前有效，请勿转发）")


def reminder_text(*, ms, petition: Petition, url: str, locale: str) -> str:
    """Return the reminder message in the participant's language."""
    zh_kind, en_kind = KIND_WORDS[Kind(ms.kind)]
    when = _local(ms.starts_at)
    if locale == "en":
        return f"Reminder: the {en_kind} about petition {petition.tracking_no} starts at {when}. Join: {url}"
    return f"【信访{zh_kind}】提醒：信访事项{petition.tracking_no}的{zh_kind}将于{when}开始。加入链接：{url}"


def cancelled_text(*, ms, petition: Petition, locale: str) -> str:
    """Return the cancellation message in the participant's language."""
    zh_kind, en_kind = KIND_WORDS[Kind(ms.kind)]
    when = _local(ms.starts_at)
    if locale == "en":
        return f"The {en_kind} about petition {petition.tracking_no} at {when} has been cancelled."
    return f"【信访{zh_kind}】原定{when}的信访事项{petition.tracking_no}{zh_kind}已取消。"


def notify_invitation(session: Session, *, ms, participant, petition: Petition, token: str, now: datetime) -> dict:
    """Send a participant their link (staff: shown in the console) and record how; return that for the audit."""
    participant.invited_at = now
    if participant.username:
        participant.invite_status, participant.invite_channel = InviteStatus.CONSOLE, "console"
    else:
        conv = _route(session, participant, petition)
        if conv is None:
            participant.invite_status, participant.invite_channel = InviteStatus.MANUAL, None
        else:
            _send(session, conv, invitation_text(ms=ms, participant=participant, petition=petition, url=join_url(token),
                                                 expires=link_expiry(ms), locale=participant.locale))
            participant.invite_status, participant.invite_channel = InviteStatus.QUEUED, conv.channel
    session.flush()
    return {"status": str(participant.invite_status), "channel": participant.invite_channel}


def notify_reminder(session: Session, *, ms, participant, petition: Petition, token: str) -> bool:
    """Remind a citizen participant that the session starts soon; return whether a message was queued."""
    if participant.username or participant.removed_at is not None:
        return False
    conv = _route(session, participant, petition)
    if conv is None:
        return False
    _send(session, conv, reminder_text(ms=ms, petition=petition, url=join_url(token), locale=participant.locale))
    return True


def notify_cancelled(session: Session, *, ms, participant, petition: Petition, now: datetime) -> bool:
    """Tell a citizen participant who was sent an invitation that the session is cancelled."""
    if participant.username or participant.invite_status != InviteStatus.QUEUED:
        return False
    conv = _route(session, participant, petition)
    if conv is None:
        return False
    _send(session, conv, cancelled_text(ms=ms, petition=petition, locale=participant.locale))
    return True
