"""What WeChat posts, verified and decoded: signatures, AES (compatible and safe mode) and a hardened XML parser.

Nothing here trusts the request: the signature is checked before the body is read, DTDs and entity
declarations are refused outright (no billion laughs, no external entities), and sizes and depth are
bounded. ``to_inbound`` turns a verified message into the one ``InboundMessage`` the inbox stores.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from xml.parsers import expat

from channels.service import InboundMessage
from core.db import utcnow

MAX_ELEMENTS = 256
MAX_DEPTH = 4
OPENID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MSG_ID = re.compile(r"^\d{1,64}$")
PARAM = re.compile(r"^[A-Za-z0-9]{1,64}$")

# Menu buttons (CLICK events) and what a citizen would type for them.
MENU = {
    "FILE_PETITION": "我要反映问题",
    "QUERY_STATUS": "查询进度",
    "HUMAN": "转人工",
    "SUPPLEMENT": "我要补充材料",
}
GREETING = "你好"
TEXT_TYPES = {"text", "voice", "image", "location", "link", "video", "shortvideo"}


class WebhookError(Exception):
    """A request refused before anything was stored; ``status`` is the HTTP status to answer."""

    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class Forbidden(WebhookError):
    status = 403


class Malformed(WebhookError):
    status = 400


@dataclass(frozen=True)
class Credentials:
    """An official account's callback credentials (token, EncodingAESKey, app id)."""

    token: str
    appid: str | None = None
    aes_key: str | None = None

    def __post_init__(self) -> None:
        if self.aes_key is not None:
            try:
                key = base64.b64decode(self.aes_key + "=", validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(self.aes_key) != 43 or len(key) != 32:
                raise ValueError("PETITION_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
            if not self.appid:
                raise ValueError("PETITION_WECHAT_APPID is needed to decrypt messages (safe or compatible mode)")


# Signatures -------------------------------------------------------------------------------------------

def sign(*parts: str) -> str:
    """Return WeChat's signature: the SHA-1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(token: str, query: Mapping[str, str]) -> None:
    """Refuse a callback whose ``signature`` is not sha1(sorted(token, timestamp, nonce))."""
    signature, timestamp, nonce = (query.get(k) or "" for k in ("signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise Forbidden("signature, timestamp and nonce are required")
    if not (PARAM.match(timestamp) and PARAM.match(nonce)):
        raise Forbidden("timestamp and nonce must be short alphanumeric strings")
    if not hmac.compare_digest(sign(token, timestamp, nonce).encode(), signature.lower().encode()):
        raise Forbidden("signature does not match")


# XML ---------------------------------------------------------------------------------------------------

class _Refused(Exception):
    pass


def parse_xml(data: bytes | str) -> dict[str, Any]:
    """Parse WeChat's ``<xml>…</xml>`` into a dict; DTDs, entity declarations and deep nesting are refused."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data.strip():
        raise Malformed("empty body: expected a WeChat XML message")
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def refuse(*_args: Any) -> None:
        raise _Refused("DTDs and entity declarations are not accepted")

    # A DOCTYPE is where every entity attack starts (billion laughs, XXE); WeChat never sends one.
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    stack: list[tuple[str, dict[str, Any], list[str]]] = []
    root: dict[str, Any] = {}
    count = 0

    def start(name: str, _attrs: dict) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
            raise _Refused(f"too many or too deeply nested elements (at most {MAX_ELEMENTS}, depth {MAX_DEPTH})")
        stack.append((name, {}, []))

    def end(_name: str) -> None:
        name, children, text = stack.pop()
        value: Any = children if children else "".join(text)
        if stack:
            parent = stack[-1][1]
            if name in parent:
                previous = parent[name]
                parent[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                parent[name] = value
        else:
            root["name"], root["value"] = name, value

    def characters(text: str) -> None:
        if stack:
            stack[-1][2].append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise Malformed(str(exc)) from None
    except expat.ExpatError as exc:
        raise Malformed(f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except (ValueError, UnicodeError) as exc:
        raise Malformed(f"malformed XML: {exc}") from None
    if root.get("name") != "xml":
        raise Malformed("the root element must be <xml>")
    value = root["value"]
    return value if isinstance(value, dict) else {}


# Messages ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeChatMessage:
    """A verified message or event, with the fields WeChat sent."""

    fields: dict[str, Any]

    def get(self, key: str) -> str:
        """Return a field as text ('' when absent or not text)."""
        value = self.fields.get(key)
        return value if isinstance(value, str) else ""

    @property
    def msg_type(self) -> str:
        return self.get("MsgType").strip().lower()

    @property
    def openid(self) -> str:
        return self.get("FromUserName").strip()

    @property
    def account(self) -> str:
        return self.get("ToUserName").strip()

    @property
    def event(self) -> str:
        return self.get("Event").strip().lower()

    @property
    def create_time(self) -> int:
        return int(self.get("CreateTime").strip())

    @property
    def platform_id(self) -> str:
        """Return the inbox key: MsgId, or for events (which have none) sender + time + event."""
        msg_id = self.get("MsgId").strip()
        if msg_id:
            return msg_id
        return f"{self.openid}:{self.create_time}:{self.event}"[:128]

    @property
    def actionable(self) -> bool:
        """Tell whether the message becomes a turn (a citizen's message, a subscription or a known menu click)."""
        if self.msg_type in TEXT_TYPES:
            return True
        if self.msg_type == "event":
            return self.event == "subscribe" or (self.event == "click" and self.get("EventKey").strip().upper() in MENU)
        return False


def check_message(fields: dict[str, Any]) -> WeChatMessage:
    """Check the fields every message has and return it; refuse a message WeChat would never send."""
    message = WeChatMessage(fields)
    if not (message.msg_type and message.account):
        raise Malformed("MsgType and ToUserName are required")
    if not OPENID.match(message.openid):
        raise Malformed("FromUserName must be an OpenID")
    try:
        int(message.get("CreateTime").strip())
    except ValueError:
        raise Malformed("CreateTime must be a Unix time") from None
    msg_id = message.get("MsgId").strip()
    if msg_id and not MSG_ID.match(msg_id):
        raise Malformed("MsgId must be a number")
    if message.msg_type in TEXT_TYPES and not msg_id:
        raise Malformed("MsgId is required for messages")
    return message


def open_envelope(body: bytes, query: Mapping[str, str], credentials: Credentials) -> tuple[WeChatMessage, bool]:
    """Verify and decode a POSTed message; return it and whether it came encrypted (then the reply must be too)."""
    check_signature(credentials.token, query)
    outer = parse_xml(body)
    if (query.get("encrypt_type") or "raw").lower() != "aes":
        if credentials.aes_key:
            # The plaintext signature does not cover the body: with a key configured, only sealed messages count.
            raise Forbidden("PETITION_WECHAT_AES_KEY is set, so only encrypted (compatible or safe mode) messages "
                            "are accepted")
        return check_message(outer), False
    if not credentials.aes_key:
        raise Malformed("an encrypted message arrived but PETITION_WECHAT_AES_KEY is not set")
    encrypt = outer.get("Encrypt")
    if not isinstance(encrypt, str) or not encrypt.strip():
        raise Malformed("encrypted mode: the <Encrypt> element is missing")
    msg_signature = query.get("msg_signature") or ""
    if not hmac.compare_digest(sign(credentials.token, query["timestamp"], query["nonce"], encrypt).encode(),
                               msg_signature.lower().encode()):
        raise Forbidden("msg_signature does not match")
    plaintext = decrypt(encrypt.strip(), credentials)
    return check_message(parse_xml(plaintext)), True


def decrypt(encrypt: str, credentials: Credentials) -> str:
    """Decrypt an ``<Encrypt>`` payload and check that it was sealed for this app id."""
    from wechatpy.crypto import PrpCrypto
    from wechatpy.exceptions import InvalidAppIdException

    try:
        return PrpCrypto(_key(credentials)).decrypt(encrypt, credentials.appid)
    except InvalidAppIdException:
        raise Malformed("the message was not encrypted for this app id (check PETITION_WECHAT_APPID and "
                        "PETITION_WECHAT_AES_KEY)") from None
    except Exception:
        raise Malformed("the message could not be decrypted (check PETITION_WECHAT_AES_KEY)") from None


def seal(xml: str, credentials: Credentials, *, nonce: str, timestamp: str) -> str:
    """Encrypt a passive reply the way WeChat expects it in safe and compatible mode."""
    from wechatpy.crypto import WeChatCrypto

    return WeChatCrypto(credentials.token, credentials.aes_key, credentials.appid).encrypt_message(xml, nonce, timestamp)


def _key(credentials: Credentials) -> bytes:
    return base64.b64decode((credentials.aes_key or "") + "=")


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(*, to_user: str, from_user: str, content: str, create_time: int) -> str:
    """Render a passive text reply."""
    return (f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><FromUserName>{_cdata(from_user)}</FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{_cdata(content)}</Content></xml>")


# To an InboundMessage ----------------------------------------------------------------------------------

class MediaSource(Protocol):
    """Where a message's media comes from: WeChat's media API and a speech-to-text engine."""

    def fetch(self, media_id: str, kind: str) -> str | None:
        """Download a media file and return where it was stored (None if it could not be fetched)."""

    def transcribe(self, path: str) -> str | None:
        """Return what a voice recording says (None if it could not be transcribed)."""


def to_inbound(message: WeChatMessage, *, channel: str, media: MediaSource) -> InboundMessage | None:
    """Turn a verified message into an InboundMessage (None for what is no citizen's turn: unknown events)."""
    kind, text, attached = message.msg_type, "", None
    if kind == "text":
        text = message.get("Content")
    elif kind == "voice":
        media_id = message.get("MediaId").strip()
        attached = {"type": "voice", "media_id": media_id, "format": message.get("Format").strip().lower()}
        recognition = message.get("Recognition").strip()
        if recognition:
            text, attached["source"] = recognition, "wechat_recognition"
        elif media_id:
            path = media.fetch(media_id, "voice")
            attached["path"] = path
            text = (media.transcribe(path) or "") if path else ""
            attached["source"] = "transcriber" if text else "untranscribed"
    elif kind == "image":
        media_id = message.get("MediaId").strip()
        attached = {"type": "image", "media_id": media_id, "pic_url": message.get("PicUrl").strip() or None,
                    "path": media.fetch(media_id, "image") if media_id else None}
    elif kind in ("video", "shortvideo"):
        media_id = message.get("MediaId").strip()
        attached = {"type": "video", "media_id": media_id, "path": media.fetch(media_id, "video") if media_id else None}
    elif kind == "location":
        label = message.get("Label").strip()
        lat, lng = _float(message.get("Location_X")), _float(message.get("Location_Y"))
        attached = {"type": "location", "lat": lat, "lng": lng, "label": label or None}
        text = f"我的位置：{label}" if label else (f"我的位置：{lat},{lng}" if lat is not None and lng is not None else "")
    elif kind == "link":
        url = message.get("Url").strip()
        text = "\n".join(p for p in (message.get("Title").strip(), message.get("Description").strip(), url) if p)
        attached = {"type": "link", "url": url or None}
    elif kind == "event" and message.event == "subscribe":
        text = GREETING
    elif kind == "event" and message.event == "click" and message.get("EventKey").strip().upper() in MENU:
        text = MENU[message.get("EventKey").strip().upper()]
    else:
        return None
    return InboundMessage(channel=channel, sender=message.openid, message_id=message.platform_id, text=text,
                          media=attached, received_at=_received_at(message.create_time))


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _received_at(create_time: int) -> datetime:
    now = utcnow()
    try:
        at = datetime.fromtimestamp(create_time, UTC)
    except (OverflowError, OSError, ValueError):
        return now
    return min(at, now)
