"""The console's routes under /console and its error pages."""

from __future__ import annotations

import importlib
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from admin_web.web import STATIC, BadCsrf, NotAllowed, NotSignedIn, render, signed_in
from cases.service import CaseError

# Each module has a `router`; their order is the order of route matching.
PAGE_MODULES = ["session", "agent", "cases", "triage", "workbench", "supervision", "analyst", "risk", "mediation", "knowledge", "admin"]


def _router() -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(f"admin_web.pages.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"admin_web.pages.{name}":
                raise
            continue
        router.include_router(module.router)
    return router


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and request.headers.get("x-requested-with") != "fetch"


def _error(request: Request, status: int, heading: tuple[str, str], detail: tuple[str, str]):
    if not request.url.path.startswith("/console"):
        return JSONResponse({"detail": detail[1]}, status_code=status)
    try:
        console = signed_in(request)
    except NotSignedIn:
        console = None
    return render(request, "error.html", console, status_code=status, heading=heading, detail=detail)


def install(app: FastAPI) -> None:
    """Mount the console, its static files and its error pages on the app."""
    app.include_router(_router())

    @app.get("/console", include_in_schema=False)
    def _console_root():
        return RedirectResponse("/console/", status_code=307)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn):
        if _wants_html(request):
            return RedirectResponse(f"/console/login?next={quote(request.url.path)}", status_code=303)
        return _error(request, 401, ("请先登录", "Please sign in"), ("会话已过期或未登录。", "Your session has ended or you are not signed in."))

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, exc: NotAllowed):
        return _error(request, 403, ("无权访问", "Not allowed"), ("您的角色不能使用此页面或操作。", "Your role may not use this page or action."))

    @app.exception_handler(BadCsrf)
    async def _bad_csrf(request: Request, exc: BadCsrf):
        return _error(request, 403, ("请求无效", "Request refused"),
                      ("表单已过期或来源不明，请刷新页面后重试。", "The form is stale or did not come from this console; reload and try again."))

    @app.exception_handler(CaseError)
    async def _case_error(request: Request, exc: CaseError):
        status = getattr(exc, "status", 400)
        if status == 404:
            return _error(request, 404, ("未找到", "Not found"), ("没有此信访件，或您无权查看。", "No such petition, or not one you may see."))
        return _error(request, status, ("无法完成", "Could not be done"), (str(exc), str(exc)))
