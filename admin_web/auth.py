"""Console sign-in: password check with throttling, server-side sessions, CSRF tokens, password change."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from admin_web.models import ConsoleSession, LoginFailure
from core.accounts import User, check_password, get_by_username
from core.db import utcnow
from core.security import hash_password, token_digest, verify_password

SESSION_LIFETIME = timedelta(hours=12)
IDLE_LIMIT = timedelta(hours=2)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
MIN_PASSWORD = 10


class LoginRefused(Exception):
    """A sign-in that is refused; ``throttled`` when too many attempts failed recently."""

    def __init__(self, message: str, *, throttled: bool = False, retry_after: int = 0):
        super().__init__(message)
        self.throttled, self.retry_after = throttled, retry_after


class PasswordRefused(ValueError):
    """A password change that cannot be made, said in Chinese and English."""

    def __init__(self, zh: str, en: str):
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass(frozen=True)
class SignedIn:
    token: str
    csrf_token: str
    user: User


def _failures(session: Session, column, value: str, since: datetime) -> tuple[int, datetime | None]:
    count, first = session.execute(select(func.count(), func.min(LoginFailure.at))
                                   .where(column == value, LoginFailure.at >= since)).one()
    return count, first


def check_throttle(session: Session, *, username: str, address: str, now: datetime | None = None) -> None:
    """Refuse further attempts on an account or from an address with too many recent failures."""
    now = now or utcnow()
    since = now - THROTTLE_WINDOW
    for column, value, limit in ((LoginFailure.username, username.lower(), MAX_FAILURES_PER_ACCOUNT),
                                 (LoginFailure.address, address, MAX_FAILURES_PER_ADDRESS)):
        count, first = _failures(session, column, value, since)
        if count >= limit:
            retry = int(((first or now) + THROTTLE_WINDOW - now).total_seconds()) + 1
            raise LoginRefused("too many failed sign-ins; try again later", throttled=True, retry_after=max(retry, 1))


def login(session: Session, *, username: str, password: str, address: str, now: datetime | None = None
          ) -> SignedIn | None:
    """Check the password (after the throttle) and open a console session; None (failure recorded) when wrong."""
    now = now or utcnow()
    username = (username or "").strip()
    check_throttle(session, username=username, address=address, now=now)
    user = check_password(session, username=username, password=password or "")
    if user is None:
        session.add(LoginFailure(username=username.lower()[:64], address=address[:64], at=now))
        session.flush()
        return None
    session.execute(delete(LoginFailure).where(LoginFailure.username == username.lower()))
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(ConsoleSession(digest=token_digest(token), user_id=user.id, csrf_token=csrf, created_at=now,
                               last_seen_at=now, expires_at=now + SESSION_LIFETIME))
    session.flush()
    return SignedIn(token, csrf, user)


def resume(session: Session, token: str | None, *, now: datetime | None = None) -> tuple[User, ConsoleSession] | None:
    """Return the user and session of a cookie token that is valid, not idle too long and not expired."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.digest == token_digest(token)))
    if row is None or row.expires_at <= now or now - row.last_seen_at > IDLE_LIMIT:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
    return user, row


def logout(session: Session, token: str | None) -> None:
    """End the session of this cookie token."""
    if token:
        session.execute(delete(ConsoleSession).where(ConsoleSession.digest == token_digest(token)))


def change_password(session: Session, *, user: User, current: str, new: str, keep_token: str | None = None) -> None:
    """Change a password after checking the current one; end the user's other sessions."""
    if not verify_password(user.password_hash, current or ""):
        raise PasswordRefused("当前密码错误", "the current password is wrong")
    if len(new or "") < MIN_PASSWORD:
        raise PasswordRefused(f"新密码至少 {MIN_PASSWORD} 个字符", f"the new password needs at least {MIN_PASSWORD} characters")
    if new == current:
        raise PasswordRefused("新密码不能与当前密码相同", "the new password is the same as the current one")
    if new.lower() in (user.username.lower(), "password123", "1234567890"):
        raise PasswordRefused("密码过于简单，请换一个", "choose a less guessable password")
    user.password_hash = hash_password(new)
    stmt = delete(ConsoleSession).where(ConsoleSession.user_id == user.id)
    if keep_token:
        stmt = stmt.where(ConsoleSession.digest != token_digest(keep_token))
    session.execute(stmt)
    session.flush()


def set_password(session: Session, *, username: str, new: str) -> None:
    """Set a password as an admin (no current password); ends the user's sessions."""
    user = get_by_username(session, username)
    if user is None:
        raise PasswordRefused(f"没有用户 {username}", f"no user {username!r}")
    if len(new or "") < 8:
        raise PasswordRefused("密码至少 8 个字符", "the password needs at least 8 characters")
    user.password_hash = hash_password(new)
    session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
    session.flush()
