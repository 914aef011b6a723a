"""The ASGI application factory."""

from __future__ import annotations

import contextlib
import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Receive, Scope, Send

from admin_web.api import install as install_console
from cases.api import router as cases_router
from channels.api import router as agent_router
from channels.open311.api import router as open311_router
from channels.open311.render import render_errors as open311_errors
from channels.phone.api import router as phone_router
from channels.sms.api import router as sms_router
from channels.webchat.api import STATIC as WEBCHAT_STATIC
from channels.webchat.api import router as webchat_router
from channels.webchat.status import router as status_router
from channels.wechat.api import router as wechat_router
from channels.wechat.miniprogram_api import router as miniprogram_router
from core import db as core_db
from core import metrics, ratelimit, security
from core.logging import RequestContext, configure_logging
from core.settings import Settings, get_settings
from core.settings import configure as configure_settings
from core.tasks import EmbeddedScheduler, configure_runner
from knowledge.api import router as knowledge_router
from mediation.api import router as mediation_router
from risk.api import router as risk_router
from routing.api import router as routing_router
from server.models_registry import load_models, load_tasks
from server.worker import SCHEDULE

log = logging.getLogger(__name__)


# Case attachments may be larger than any other request body: the service itself caps the file at 10 MB.
ATTACHMENT_UPLOAD = re.compile(r"^/console/cases/[^/]+/attachments$")
ATTACHMENT_LIMIT = 11 * 1024 * 1024

# The public, unauthenticated endpoints and their rate-limit groups (core/ratelimit.py). Web chat WebSocket frames
# are counted in the "chat" group by the socket itself; signed platform webhooks are not limited per address.
PUBLIC_RATE_LIMITS = [
    ratelimit.rule("chat", r"^/api/v1/chat$"),
    ratelimit.rule("status", r"^/status$", ("GET", "POST")),
    ratelimit.rule("open311", r"^/open311/v2/", respond=lambda scope, wait: open311_errors(
        429, [" ".join(ratelimit.message(wait))], fmt=scope["path"].rpartition(".")[2])),
    ratelimit.rule("miniprogram", r"^/api/v1/miniprogram/"),
    ratelimit.rule("mediation", r"^/mediation/join/"),
]


class BodyLimit:
    """Refuse request bodies over the configured size with 413 before reading them whole."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.default_max = app, max_bytes

    def _too_large(self, scope: Scope, limit: int):
        if scope.get("path", "").startswith("/console"):
            mb = limit / (1024 * 1024)
            return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>413</title><p>上传内容过大（上限约 {mb:.0f} MB）。"
                                f"Upload too large (about {mb:.0f} MB at most). <a href=\"javascript:history.back()\">返回 Back</a>",
                                status_code=413)
        return JSONResponse({"detail": f"request body over {limit} bytes"}, 413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.default_max
        if scope.get("method") == "POST" and ATTACHMENT_UPLOAD.match(scope.get("path", "")):
            limit = max(limit, ATTACHMENT_LIMIT)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, limit)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(scope, limit)(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for these settings (the environment's by default)."""
    settings = configure_settings(settings or get_settings())
    configure_logging(settings)
    security.configure(settings)
    load_models()
    load_tasks()
    database = core_db.configure(settings)
    configure_runner(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Without Celery, periodic work (deadline scans) runs in this process.
        scheduler = None if settings.broker_url or not settings.embedded_scheduler else EmbeddedScheduler(SCHEDULE)
        if scheduler:
            scheduler.start()
        yield
        if scheduler:
            scheduler.stop()

    app = FastAPI(title="petition-intake", version="0.1.0", lifespan=lifespan,
                  description="信访 / 12345 petition intake: registration, statutory clock, status machine and audit.")
    app.state.settings = settings
    app.state.db = database
    app.include_router(cases_router)
    app.include_router(agent_router)
    app.include_router(routing_router)
    app.include_router(risk_router)
    app.include_router(knowledge_router)
    app.include_router(open311_router)
    app.include_router(wechat_router)
    app.include_router(miniprogram_router)
    app.include_router(sms_router)
    app.include_router(phone_router)
    app.include_router(webchat_router)
    app.include_router(status_router)
    app.include_router(mediation_router)
    install_console(app)
    app.mount("/static/webchat", StaticFiles(directory=WEBCHAT_STATIC), name="webchat-static")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Echoing the offending input back (it may be 100 KB) helps nobody; say where and why.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: Exception) -> Response:
        # Input the database cannot hold is the caller's error, not ours: an id beyond 64 bits (SQLite), a NUL
        # character or an out-of-range number (PostgreSQL). Found by tests/security/test_schemathesis.py.
        log.info("request refused by the database: %s", type(exc).__name__)
        zh, en = "请求中有数值超出范围或无法保存的字符（如 NUL）。", "A value in the request is out of range or has a character that cannot be stored (such as NUL)."
        if request.url.path.startswith(("/console", "/status", "/mediation/join")):
            return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>422</title><p>{zh}</p><p lang=en>{en}</p>"
                                "<p><a href=\"javascript:history.back()\">返回 Back</a>", status_code=422)
        return JSONResponse({"detail": f"{zh} {en}"}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable: %s", type(exc).__name__)
        return JSONResponse({"detail": "database unavailable, try again shortly"}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.get("/healthz", tags=["ops"])
    def healthz():
        """Report whether the service and its database are up."""
        try:
            database.ping()
        except Exception:
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return {"status": "ok", "database": "ok", "tasks": "celery" if settings.broker_url else "embedded"}

    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.state.rate_limiter = ratelimit.from_settings(settings)
    app.add_middleware(ratelimit.RateLimit, limiter=app.state.rate_limiter, rules=PUBLIC_RATE_LIMITS)
    # Outermost: refused requests (413, 429) are counted and logged too, each with its request id.
    if settings.metrics_enabled:
        metrics.install(app, settings)
    app.add_middleware(RequestContext, router=app.router)
    return app
