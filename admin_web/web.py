"""Console plumbing: templates, the signed-in user, role checks, CSRF, language, and error pages."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from admin_web import auth
from cases.enums import STATUS_LABELS, Status
from core.accounts import Actor, Role, User
from core.security import mask_name, mask_phone
from core.settings import Environment, get_settings
from core.web import database

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
COOKIE = "petition_console"
LANG_COOKIE = "petition_console_lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# Autoescape everything: citizen text reaches these templates.
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True))

ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.AGENT: ("坐席", "Agent"), Role.HANDLER: ("承办人", "Handler"), Role.TRIAGE: ("信访分办", "Triage officer"),
    Role.SUPERVISOR: ("督查督办", "Supervisor"), Role.ANALYST: ("分析员", "Analyst"), Role.ADMIN: ("管理员", "Administrator"),
}

# The console's navigation: (path, zh, en, roles). Each route checks its roles itself; this only draws the menu.
NAV: list[tuple[str, str, str, frozenset[Role]]] = [
    ("/console/agent", "坐席工作台", "Agent inbox", frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})),
    ("/console/triage", "分办", "Triage", frozenset({Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN})),
    ("/console/workbench", "承办工作台", "Workbench", frozenset({Role.HANDLER})),
    ("/console/supervision", "督查督办", "Supervision", frozenset({Role.SUPERVISOR, Role.ADMIN})),
    ("/console/analyst", "分析", "Analysis", frozenset({Role.ANALYST, Role.SUPERVISOR, Role.ADMIN})),
    ("/console/risk", "风险研判", "Risk", frozenset({Role.ANALYST, Role.SUPERVISOR, Role.ADMIN})),
    ("/console/mediation", "视频调解", "Mediation", frozenset({Role.HANDLER, Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN})),
    ("/console/knowledge", "知识库", "Knowledge base", frozenset({Role.ADMIN})),
    ("/console/admin", "系统管理", "Administration", frozenset({Role.ADMIN})),
]
HOME: dict[Role, str] = {Role.AGENT: "/console/agent", Role.HANDLER: "/console/workbench", Role.TRIAGE: "/console/triage",
                         Role.SUPERVISOR: "/console/supervision", Role.ANALYST: "/console/analyst",
                         Role.ADMIN: "/console/admin"}
# Roles that see petitioners' personal data in clear; everyone else sees it masked.
PII_ROLES = frozenset({Role.AGENT, Role.HANDLER, Role.TRIAGE, Role.SUPERVISOR, Role.ADMIN})


class NotSignedIn(Exception):
    """The request has no valid console session."""


class NotAllowed(Exception):
    """The signed-in user's role may not use this page or action."""


class BadCsrf(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass
class Console:
    """The signed-in staff member of one request."""

    user: User
    actor: Actor
    csrf_token: str
    token: str
    lang: str

    @property
    def role(self) -> Role:
        return self.actor.role

    @property
    def sees_pii(self) -> bool:
        return self.actor.role in PII_ROLES


def lang_of(request: Request) -> str:
    """Return the console language: the cookie's choice, Chinese by default."""
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


def cookie_secure(request: Request) -> bool:
    """Send cookies only over HTTPS except in development and tests on plain HTTP."""
    if request.url.scheme == "https":
        return True
    return get_settings().environment is Environment.PRODUCTION


def signed_in(request: Request) -> Console:
    """Return the request's signed-in user, or raise NotSignedIn."""
    cached = getattr(request.state, "console", None)
    if cached is not None:
        return cached
    token = request.cookies.get(COOKIE)
    with database(request).transaction() as session:
        found = auth.resume(session, token)
        if found is None:
            raise NotSignedIn
        user, row = found
        session.expunge(user)
        console = Console(user=user, actor=Actor.of(user), csrf_token=row.csrf_token, token=token, lang=lang_of(request))
    request.state.console = console
    return console


def require(*roles: Role):
    """Return a dependency that admits only these roles (and checks CSRF on state-changing methods)."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Console:
        console = signed_in(request)
        if console.role not in allowed:
            raise NotAllowed
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            await check_csrf(request, console)
        return console

    dependency.roles = allowed  # read by the role × page test and the menu
    return dependency


ANY_STAFF = tuple(Role)


async def check_csrf(request: Request, console: Console) -> None:
    """Refuse a state-changing request whose CSRF token (form field or header) is not the session's."""
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not secrets.compare_digest(sent.encode(), console.csrf_token.encode()):
        raise BadCsrf


def tr(lang: str):
    """Return the template function that picks the Chinese or English of a pair."""
    def pick(zh: str, en: str) -> str:
        return en if lang == "en" else zh
    return pick


_TZ_CACHE: dict[str, ZoneInfo] = {}


def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format an aware datetime in the deployment's timezone."""
    if value is None:
        return "—"
    name = get_settings().timezone
    tz = _TZ_CACHE.setdefault(name, ZoneInfo(name))
    return value.astimezone(tz).strftime(fmt)


def status_label(status: str, lang: str) -> str:
    """Return a status's label in the console language."""
    try:
        zh, en = STATUS_LABELS[Status(status)]
    except ValueError:
        return status
    return en if lang == "en" else zh


def person(console: Console, name: str | None, phone: str | None) -> dict[str, str | None]:
    """Return a petitioner's name and phone as this role may see them."""
    if console.sees_pii:
        return {"name": name, "phone": phone}
    return {"name": mask_name(name), "phone": mask_phone(phone)}


def highlight(text: str | None, spans: list[tuple[int, int]]) -> Markup:
    """Escape citizen text and wrap the given character spans in <mark>."""
    from markupsafe import escape

    text = text or ""
    out, last = [], 0
    for start, end in sorted(spans):
        if start < last or end <= start or end > len(text):
            continue
        out.append(escape(text[last:start]))
        out.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        last = end
    out.append(escape(text[last:]))
    return Markup("").join(out)


def render(request: Request, template: str, console: Console | None, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    """Render a console page with the shared context (user, menu, CSRF token, language helpers)."""
    lang = console.lang if console else lang_of(request)
    nav = [] if console is None else [(path, zh, en) for path, zh, en, roles in NAV if console.role in roles]
    response = templates.TemplateResponse(request, template, {
        "console": console, "nav": nav, "lang": lang, "t": tr(lang), "local": local, "csrf_field": CSRF_FIELD,
        "csrf": console.csrf_token if console else "", "status_label": lambda s: status_label(s, lang),
        "role_labels": ROLE_LABELS, "path": request.url.path, **context}, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
