"""Admin pages for staff accounts, their roles and passwords (/admin/users)."""

from __future__ import annotations

import re

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.orm import Session

from admin_web import auth
from admin_web.models import ConsoleSession
from admin_web.pages.admin.common import (
    Admin,
    FormError,
    Text,
    _check,
    _checked,
    _done,
    _length,
    _not_found,
    _page,
    _problems,
    router,
)
from admin_web.web import Console
from cases import catalog
from cases.models import Unit
from core import accounts
from core.accounts import Role, User
from core.web import transaction

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")


def _user_values(session: Session, form: dict) -> tuple[str, int | None]:
    problems: list[tuple[str, str]] = []
    role = form["role"]
    if role not in {r.value for r in Role}:
        problems.append(("请选择角色", "Choose a role"))
    unit_id = None
    code = (form["unit"] or "").strip()
    if code:
        unit = catalog.get_unit_by_code(session, code)
        if unit is None:
            problems.append((f"单位 {code} 不存在", f"No unit {code}"))
        else:
            unit_id = unit.id
    elif role == Role.HANDLER:
        problems.append(("承办人必须绑定一个单位", "A handler must be bound to a unit"))
    _length(form["display_name"], ("显示名称", "The display name"), 0, 100, problems)
    _check(problems)
    return role, unit_id


def _password_problems(password: str, username: str) -> list[tuple[str, str]]:
    if len(password or "") < auth.MIN_PASSWORD:
        return [(f"密码至少 {auth.MIN_PASSWORD} 个字符", f"The password needs at least {auth.MIN_PASSWORD} characters")]
    if len(password) > 200:
        return [("密码不能超过 200 个字符", "The password must be at most 200 characters")]
    if password.lower() in (username.lower(), "password123", "1234567890"):
        return [("密码过于简单，请换一个", "Choose a less guessable password")]
    return []


def _user_page(request: Request, console: Console, session: Session, template: str, *, form: dict,
               status_code: int = 200, problems: list | None = None, user: User | None = None,
               password_problems: list | None = None):
    return _page(request, template, console, status_code=status_code, problems=problems, form=form, user=user,
                 roles=list(Role), units=catalog.list_units(session, active_only=False),
                 password_problems=password_problems or [])


def _user_form(user: User, session: Session) -> dict:
    unit = session.get(Unit, user.unit_id) if user.unit_id else None
    return {"username": user.username, "display_name": user.display_name or "", "role": user.role,
            "unit": unit.code if unit else "", "active": user.active}


@router.get("/admin/users", include_in_schema=False)
def users(request: Request, console: Admin):
    """List the staff accounts."""
    with transaction(request) as session:
        units_by_id = {u.id: u for u in catalog.list_units(session, active_only=False)}
        return _page(request, "admin/users.html", console, users=accounts.list_users(session), units_by_id=units_by_id)


@router.get("/admin/users/new", include_in_schema=False)
def user_new(request: Request, console: Admin):
    """Show the form for a new account."""
    with transaction(request) as session:
        return _user_page(request, console, session, "admin/user_new.html",
                          form={"username": "", "display_name": "", "role": "handler", "unit": ""})


@router.post("/admin/users/new", include_in_schema=False)
def user_create(request: Request, console: Admin, username: Text = "", display_name: Text = "", role: Text = "",
                unit: Text = "", password: Text = ""):
    """Create a staff account with an initial password."""
    username = username.strip()
    form = {"username": username, "display_name": display_name, "role": role, "unit": unit}
    with transaction(request) as session:
        try:
            problems, role_value, unit_id = [], "", None
            if not USERNAME.match(username) or username.lower() == "new":
                problems.append(("用户名须为 2–64 位字母、数字、点、连字符或下划线",
                                 "The username must be 2–64 letters, digits, '.', '-' or '_'"))
            elif accounts.get_by_username(session, username) is not None:
                problems.append((f"用户名 {username} 已存在", f"The username {username} is taken"))
            try:
                role_value, unit_id = _user_values(session, form)
            except FormError as exc:
                problems += exc.problems
            problems += _password_problems(password, username)
            _check(problems)
            accounts.create_user(session, username=username, password=password, role=role_value, unit_id=unit_id,
                                 display_name=display_name.strip() or None)
        except (FormError, accounts.AccountError) as exc:
            session.rollback()
            problems = _problems(exc, "无法创建：", "Cannot create: ")
            return _user_page(request, console, session, "admin/user_new.html", form=form, status_code=422,
                              problems=problems)
    return _done(f"/console/admin/users/{username}", "user-created")


@router.get("/admin/users/{username}", include_in_schema=False)
def user_edit(request: Request, console: Admin, username: str):
    """Show an account's role, unit and status, with a password reset."""
    with transaction(request) as session:
        user = accounts.get_by_username(session, username)
        if user is None:
            return _not_found(request, console, f"没有用户 {username}", f"No user {username}")
        return _user_page(request, console, session, "admin/user_edit.html", form=_user_form(user, session), user=user)


@router.post("/admin/users/{username}", include_in_schema=False)
def user_update(request: Request, console: Admin, username: str, display_name: Text = "", role: Text = "",
                unit: Text = "", active: Text = ""):
    """Change an account's role, unit and active flag; a deactivated account's sessions end."""
    form = {"username": username, "display_name": display_name, "role": role, "unit": unit, "active": _checked(active)}
    with transaction(request) as session:
        user = accounts.get_by_username(session, username)
        if user is None:
            return _not_found(request, console, f"没有用户 {username}", f"No user {username}")
        try:
            role_value, unit_id = _user_values(session, form)
            if user.id == console.user.id and (role_value != Role.ADMIN or not form["active"]):
                raise FormError(("不能降低自己的角色或停用自己的账户，请由另一位管理员操作",
                                 "You cannot demote or deactivate your own account; ask another administrator"))
            accounts.update_user(session, username=username, role=role_value, unit_id=unit_id, active=form["active"],
                                 display_name=display_name.strip() or None, actor=console.actor)
            if not form["active"]:
                session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
        except (FormError, accounts.AccountError) as exc:
            session.rollback()
            problems = _problems(exc)
            return _user_page(request, console, session, "admin/user_edit.html", form=form, status_code=422,
                              problems=problems, user=accounts.get_by_username(session, username))
    return _done(f"/console/admin/users/{username}", "user-saved")


@router.post("/admin/users/{username}/password", include_in_schema=False)
def user_password(request: Request, console: Admin, username: str, password: Text = ""):
    """Set a new password for an account; all of its sessions end."""
    with transaction(request) as session:
        user = accounts.get_by_username(session, username)
        if user is None:
            return _not_found(request, console, f"没有用户 {username}", f"No user {username}")
        problems = _password_problems(password, username)
        if user.id == console.user.id:
            problems = [("请在“账户”页面修改自己的密码", "Change your own password on the Account page")]
        try:
            _check(problems)
            auth.set_password(session, username=username, new=password)
        except (FormError, auth.PasswordRefused) as exc:
            session.rollback()
            problems = exc.problems if isinstance(exc, FormError) else [(exc.zh, exc.en)]
            user = accounts.get_by_username(session, username)
            return _user_page(request, console, session, "admin/user_edit.html", form=_user_form(user, session),
                              status_code=422, user=user, password_problems=problems)
    return _done(f"/console/admin/users/{username}", "password-reset")

