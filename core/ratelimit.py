"""Rate limits on the public endpoints: requests counted per client address and endpoint group in fixed windows.

Counts live in this process (the embedded default) or in Redis when one is configured, so that several worker
processes behind one address share them. The client address is the socket peer as the ASGI server reports it
(uvicorn rewrites it from X-Forwarded-For only for the proxies in its ``--forwarded-allow-ips``). Signed platform
webhooks are not limited here: platforms call from few addresses, retry, and are authenticated by signature.
A Redis that cannot be reached lets requests through (logged): the intake must not stop because a counter is down.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import Settings

log = logging.getLogger(__name__)

# The endpoint groups; each one's limit per window is the setting ``rate_limit_<group>``.
GROUPS = ("chat", "status", "open311", "miniprogram", "mediation")
REDIS_PREFIX = "petition:ratelimit:"
# INCR and EXPIRE in one step, so that a crash between them never leaves a counter without an expiry.
_INCR_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


@dataclass(frozen=True)
class Decision:
    """The outcome of one counted request."""

    allowed: bool
    limit: int
    count: int
    retry_after: int  # seconds until the window ends


class Counter(Protocol):
    """Count hits on a key in a window that starts with the key's first hit."""

    blocking: bool

    def incr(self, key: str, window_s: int) -> tuple[int, int]:
        """Count one hit; return the count in the current window and the seconds left in it."""


class MemoryCounter:
    """Count hits in this process (the embedded default: one process serves every request)."""

    blocking = False

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self._windows: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self.max_keys, self.clock = max_keys, clock

    def incr(self, key: str, window_s: int) -> tuple[int, int]:
        """Count one hit; return the count in the current window and the seconds left in it."""
        now = self.clock()
        with self._lock:
            count, ends = self._windows.get(key, (0, 0.0))
            if ends <= now:
                if len(self._windows) >= self.max_keys:
                    self._prune(now)
                count, ends = 0, now + window_s
            self._windows[key] = (count + 1, ends)
        return count + 1, max(1, int(ends - now + 0.999))

    def _prune(self, now: float) -> None:
        # Many addresses (a scan over an IPv6 prefix) must not grow memory without bound: drop ended windows,
        # and if that is not enough, the oldest half.
        self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        if len(self._windows) >= self.max_keys:
            keep = sorted(self._windows.items(), key=lambda kv: kv[1][1])[len(self._windows) // 2:]
            self._windows = dict(keep)


class RedisCounter:
    """Count hits in Redis, shared by every process that uses the same server."""

    blocking = True

    def __init__(self, url: str, *, prefix: str = REDIS_PREFIX, timeout_s: float = 0.5):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.script = self.client.register_script(_INCR_SCRIPT)
        self.prefix = prefix

    def incr(self, key: str, window_s: int) -> tuple[int, int]:
        """Count one hit; return the count in the current window and the seconds left in it."""
        count, ttl = self.script(keys=[self.prefix + key], args=[window_s])
        return int(count), max(1, int(ttl))


class RateLimiter:
    """Decide whether a client may make one more request to an endpoint group."""

    def __init__(self, *, limits: dict[str, int], window_s: int, counter: Counter):
        self.limits, self.window_s, self.counter = dict(limits), window_s, counter
        self._warned = 0.0

    def check(self, *, group: str, client: str) -> Decision:
        """Count one request of this client to this group and say whether it is allowed."""
        limit = self.limits.get(group, 0)
        if limit <= 0:
            return Decision(True, 0, 0, 0)
        try:
            count, left = self.counter.incr(f"{group}:{client}", self.window_s)
        except Exception as exc:  # redis.RedisError, OSError: counting is best effort
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                log.warning("rate limit counter unavailable, letting requests through: %s", type(exc).__name__)
            return Decision(True, limit, 0, 0)
        return Decision(count <= limit, limit, count, left)

    async def acheck(self, *, group: str, client: str) -> Decision:
        """Check from async code, off the event loop when the counter does network I/O."""
        if not self.counter.blocking:
            return self.check(group=group, client=client)
        from anyio import to_thread

        return await to_thread.run_sync(lambda: self.check(group=group, client=client))


def from_settings(settings: Settings) -> RateLimiter | None:
    """Build the limiter the settings ask for (Redis when one is configured); None when limits are off."""
    if not settings.rate_limit_enabled:
        return None
    url = settings.rate_limit_redis_url
    if url is None and settings.broker_url and settings.broker_url.startswith(("redis://", "rediss://")):
        url = settings.broker_url
    counter: Counter = RedisCounter(url) if url else MemoryCounter()
    limits = {group: getattr(settings, f"rate_limit_{group}") for group in GROUPS}
    return RateLimiter(limits=limits, window_s=settings.rate_limit_window_seconds, counter=counter)


def message(retry_after: int) -> tuple[str, str]:
    """Return the refusal in Chinese and in English."""
    return (f"请求过于频繁，请 {retry_after} 秒后再试。", f"Too many requests: try again in {retry_after} seconds.")


def client_address(scope: Scope) -> str:
    """Return the client's address as the ASGI server saw it."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


@dataclass(frozen=True)
class Rule:
    """Requests of these methods to paths matching the pattern count towards the group."""

    group: str
    pattern: re.Pattern
    methods: frozenset[str]
    # Answers the refusal in the endpoint's own format (Open311's error list); JSON or HTML otherwise.
    respond: Callable[[Scope, int], Response] | None = None


def rule(group: str, pattern: str, methods: Iterable[str] = ("POST",),
         respond: Callable[[Scope, int], Response] | None = None) -> Rule:
    """Make a rule from a path regular expression."""
    return Rule(group, re.compile(pattern), frozenset(m.upper() for m in methods), respond)


def refusal(scope: Scope, retry_after: int) -> Response:
    """Answer 429 with Retry-After: a short page for a browser, JSON for an API client."""
    zh, en = message(retry_after)
    headers = {"Retry-After": str(retry_after), "Cache-Control": "no-store"}
    accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1").lower()
    if "text/html" in accept:
        return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>429</title><p>{zh}</p><p lang=en>{en}</p>"
                            "<p><a href=\"javascript:history.back()\">返回 Back</a>", status_code=429, headers=headers)
    return JSONResponse({"detail": f"{zh} {en}", "retry_after": retry_after}, status_code=429, headers=headers)


async def check_socket(websocket, *, group: str) -> dict | None:
    """Count one WebSocket frame of a group; return the error frame to send instead when it is over the limit."""
    limiter: RateLimiter | None = getattr(websocket.app.state, "rate_limiter", None)
    if limiter is None:
        return None
    decision = await limiter.acheck(group=group, client=client_address(websocket.scope))
    if decision.allowed:
        return None
    zh, en = message(decision.retry_after)
    return {"type": "error", "status": 429, "detail": f"{zh} {en}", "retry_after": decision.retry_after}


class RateLimit:
    """ASGI middleware: refuse requests over their group's limit with 429 before the route runs."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter | None, rules: list[Rule]):
        self.app, self.limiter, self.rules = app, limiter, rules

    def _rule(self, scope: Scope) -> Rule | None:
        method, path = scope.get("method", ""), scope.get("path", "")
        return next((r for r in self.rules if method in r.methods and r.pattern.match(path)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter is not None and (found := self._rule(scope)) is not None:
            decision = await self.limiter.acheck(group=found.group, client=client_address(scope))
            if not decision.allowed:
                response = (found.respond or refusal)(scope, decision.retry_after)
                response.headers["Retry-After"] = str(decision.retry_after)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
