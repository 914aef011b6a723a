"""Sign in, sign out, language, password change and each role's home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from admin_web import auth
from admin_web.web import ANY_STAFF, COOKIE, HOME, LANG_COOKIE, Console, cookie_secure, render, require, signed_in
from core.web import database

router = APIRouter()
Staff = Annotated[Console, Depends(require(*ANY_STAFF))]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str | None:
    # Only paths inside the console: an open redirect would make a phishing link look like ours.
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str | None = None):
    """Show the sign-in form."""
    return render(request, "login.html", None, next=_safe_next(next) or "", error=None)


@router.post("/login", include_in_schema=False)
def login(request: Request, username: Annotated[str, Form(max_length=64)] = "",
          password: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form(max_length=300)] = ""):
    """Check the password and set the session cookie."""
    try:
        with database(request).transaction() as session:
            signed = auth.login(session, username=username, password=password, address=_address(request))
            role = signed.user.role if signed else None
        if signed is None:
            raise auth.LoginRefused("wrong username or password")
    except auth.LoginRefused as exc:
        error = ("登录尝试过多，请稍后再试", "Too many failed sign-ins; try again later") if exc.throttled else \
            ("用户名或密码错误", "Wrong username or password")
        response = render(request, "login.html", None, status_code=429 if exc.throttled else 401, next=next,
                          error=error, username=username)
        if exc.throttled:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    from core.accounts import Role

    response = RedirectResponse(_safe_next(next) or HOME[Role(role)], status_code=303)
    response.set_cookie(COOKIE, signed.token, httponly=True, samesite="strict", secure=cookie_secure(request),
                        path="/console", max_age=int(auth.SESSION_LIFETIME.total_seconds()))
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, console: Staff):
    """End the session."""
    with database(request).transaction() as session:
        auth.logout(session, console.token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/", include_in_schema=False)
def home(request: Request):
    """Send the user to their role's main page (or to sign in)."""
    from admin_web.web import NotSignedIn

    try:
        console = signed_in(request)
    except NotSignedIn:
        return RedirectResponse("/console/login", status_code=303)
    return RedirectResponse(HOME[console.role], status_code=303)


@router.get("/lang/{lang}", include_in_schema=False)
def set_lang(request: Request, lang: str, next: str | None = None):
    """Switch the console language (zh or en)."""
    response = RedirectResponse(_safe_next(next) or "/console/", status_code=303)
    response.set_cookie(LANG_COOKIE, "en" if lang == "en" else "zh", samesite="lax", path="/console",
                        secure=cookie_secure(request), max_age=365 * 86400)
    return response


@router.get("/account", include_in_schema=False)
def account(request: Request, console: Staff):
    """Show the password change form."""
    return render(request, "account.html", console, message=None, error=None)


@router.post("/account/password", include_in_schema=False)
def change_password(request: Request, console: Staff, current: Annotated[str, Form(max_length=200)] = "",
                    new: Annotated[str, Form(max_length=200)] = "", confirm: Annotated[str, Form(max_length=200)] = ""):
    """Change the signed-in user's password; other sessions end."""
    from core.accounts import User

    if new != confirm:
        return render(request, "account.html", console, status_code=400, message=None,
                      error=("两次输入的新密码不一致", "The new passwords do not match"))
    try:
        with database(request).transaction() as session:
            auth.change_password(session, user=session.get(User, console.user.id), current=current, new=new,
                                 keep_token=console.token)
    except auth.PasswordRefused as exc:
        return render(request, "account.html", console, status_code=400, message=None, error=(exc.zh, exc.en))
    return render(request, "account.html", console, message=("密码已修改", "Password changed"), error=None)
