"""A small, thread-safe client for the WeChat HTTP API: a cached access token, refreshed when WeChat rejects it.

The base URL comes from settings so that tests (and a proxy in production) can stand in for
``api.weixin.qq.com``. Access tokens and secrets travel in query strings, as WeChat requires; the root
logger's filter redacts them from httpx's request log lines.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

# The access token is invalid (40001, 40014) or expired (42001): fetch a new one and try once more.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Refresh this long before WeChat's stated expiry, so that a token never dies in flight.
EARLY_REFRESH_S = 300
MAX_MEDIA_BYTES = 20 * 1024 * 1024


class WeChatAPIError(Exception):
    """WeChat answered with a non-zero errcode (or not with JSON at all)."""

    def __init__(self, errcode: int, errmsg: str, path: str):
        super().__init__(f"{path}: errcode {errcode}: {errmsg}")
        self.errcode, self.errmsg, self.path = errcode, errmsg, path


@dataclass(frozen=True)
class Media:
    """A downloaded media file as WeChat served it."""

    content: bytes
    content_type: str
    filename: str | None = None


class WeChatClient:
    """Call the WeChat API for one app id; share one instance per app so that the token is shared."""

    def __init__(self, *, base_url: str, appid: str, secret: str, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None):
        self.appid = appid
        self._secret = secret
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # Access token ----------------------------------------------------------------------------------

    def access_token(self) -> str:
        """Return a valid access token, fetching one if none is cached or it is about to expire."""
        with self._lock:
            # One fetch at a time: a second fetch would invalidate the first token after WeChat's grace period.
            if self._token is not None and time.monotonic() < self._expires_at:
                return self._token
            data = self._json(self._http.get("/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": self.appid, "secret": self._secret}), "/cgi-bin/token")
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise WeChatAPIError(-1, "no access_token in the answer", "/cgi-bin/token")
            ttl = int(data.get("expires_in") or 7200)
            self._token = token
            self._expires_at = time.monotonic() + max(ttl - min(EARLY_REFRESH_S, ttl // 5), 1)
            return token

    def invalidate(self, token: str) -> None:
        """Forget a token WeChat rejected (unless another thread has already replaced it)."""
        with self._lock:
            if self._token == token:
                self._token, self._expires_at = None, 0.0

    # Calls -----------------------------------------------------------------------------------------

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, payload: Any = None) -> dict:
        """Call an API that takes the access token; refresh the token once if WeChat rejects it."""
        for attempt in range(2):
            token = self.access_token()
            kwargs: dict[str, Any] = {"params": {**(params or {}), "access_token": token}}
            if payload is not None:
                # WeChat wants raw UTF-8 (``\\uXXXX`` escapes arrive as literal text in some APIs).
                kwargs["content"] = json.dumps(payload, ensure_ascii=False).encode()
                kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
            data = self._json(self._http.request(method, path, **kwargs), path, check=False)
            code = _errcode(data)
            if code in TOKEN_ERRORS and attempt == 0:
                log.info("WeChat rejected the access token (errcode %s); fetching a new one", code)
                self.invalidate(token)
                continue
            if code:
                raise WeChatAPIError(code, str(data.get("errmsg", "")), path)
            return data
        raise AssertionError("unreachable")

    def send_text(self, openid: str, content: str) -> dict:
        """Send a customer-service text message (allowed within 48 hours of the user's last message)."""
        return self.call("POST", "/cgi-bin/message/custom/send",
                         payload={"touser": openid, "msgtype": "text", "text": {"content": content}})

    def send_template(self, openid: str, template_id: str, data: dict[str, Any], *, url: str | None = None) -> dict:
        """Send a template message (a notification outside the 48-hour window)."""
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            payload["url"] = url
        return self.call("POST", "/cgi-bin/message/template/send", payload=payload)

    def download_media(self, media_id: str, *, max_bytes: int = MAX_MEDIA_BYTES) -> Media:
        """Download a temporary media file (kept by WeChat for three days)."""
        path = "/cgi-bin/media/get"
        for attempt in range(2):
            token = self.access_token()
            with self._http.stream("GET", path, params={"access_token": token, "media_id": media_id}) as response:
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind in ("application/json", "text/plain", "text/json") or response.status_code >= 400:
                    # Errors come back as JSON (some with a text/plain type) instead of the file.
                    response.read()
                    data = self._json(response, path, check=False)
                    code = _errcode(data)
                    if code in TOKEN_ERRORS and attempt == 0:
                        self.invalidate(token)
                        continue
                    raise WeChatAPIError(code or -1, str(data.get("errmsg", "no media in the answer")), path)
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise WeChatAPIError(-1, f"media over {max_bytes} bytes", path)
                    chunks.append(chunk)
                return Media(b"".join(chunks), kind or "application/octet-stream",
                             _filename(response.headers.get("content-disposition", "")))
        raise AssertionError("unreachable")

    def code2session(self, code: str) -> dict:
        """Exchange a mini-program ``wx.login`` code for the user's openid (and session key)."""
        path = "/sns/jscode2session"
        return self._json(self._http.get(path, params={"appid": self.appid, "secret": self._secret, "js_code": code,
                                                       "grant_type": "authorization_code"}), path)

    @staticmethod
    def _json(response: httpx.Response, path: str, *, check: bool = True) -> dict:
        try:
            data = json.loads(response.content)
        except ValueError:
            raise WeChatAPIError(-1, f"HTTP {response.status_code}, not JSON", path) from None
        if not isinstance(data, dict):
            raise WeChatAPIError(-1, "not a JSON object", path)
        if check and _errcode(data):
            raise WeChatAPIError(_errcode(data), str(data.get("errmsg", "")), path)
        return data


def _errcode(data: dict) -> int:
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def _filename(disposition: str) -> str | None:
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return value.strip().strip('"')
    return None


_clients: dict[tuple[str, str, str], WeChatClient] = {}
_clients_lock = threading.Lock()


def get_client(*, base_url: str, appid: str, secret: str) -> WeChatClient:
    """Return the process-wide client of an app (one token cache per app id and API base)."""
    key = (base_url, appid, secret)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = WeChatClient(base_url=base_url, appid=appid, secret=secret)
        return client
