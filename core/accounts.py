"""Staff accounts, roles and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow
from core.security import hash_password, new_token, password_needs_rehash, token_digest, verify_password


class Role(StrEnum):
    AGENT = "agent"
    HANDLER = "handler"
    TRIAGE = "triage"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff username and role (the bot and the scheduler act as staff too)."""

    name: str
    role: Role
    unit_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        """Return the actor for a staff account."""
        return cls(user.username, Role(user.role), user.unit_id)


SYSTEM = Actor("system", Role.ADMIN)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # A handler is bound to one unit; the units table belongs to cases, referenced by name only.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(back_populates="tokens")


class AccountError(ValueError):
    """A request about accounts that cannot be met."""


def create_user(session: Session, *, username: str, password: str, role: str, unit_id: int | None = None,
                display_name: str | None = None) -> User:
    """Create a staff account; a handler must name its unit."""
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}; one of {', '.join(Role)}") from None
    if role is Role.HANDLER and unit_id is None:
        raise AccountError("a handler must be bound to a unit")
    if len(password) < 8:
        raise AccountError("password must have at least 8 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role, unit_id=unit_id,
                display_name=display_name)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    """List staff accounts by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def update_user(session: Session, *, username: str, role: str, unit_id: int | None, active: bool,
                display_name: str | None, actor: Actor) -> User:
    """Change an account's role, unit, display name and active flag; admins cannot demote or deactivate themselves."""
    user = get_by_username(session, username)
    if user is None:
        raise AccountError(f"no user {username!r}")
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}; one of {', '.join(Role)}") from None
    if role is Role.HANDLER and unit_id is None:
        raise AccountError("a handler must be bound to a unit")
    # Locking oneself out would leave the console without the admin who noticed the mistake.
    if user.username == actor.name and (role is not Role.ADMIN or not active):
        raise AccountError("you cannot demote or deactivate your own account")
    user.role, user.unit_id, user.active, user.display_name = role, unit_id, bool(active), display_name
    session.flush()
    return user


def get_by_username(session: Session, username: str) -> User | None:
    """Return the account with this username, if any."""
    return session.scalar(select(User).where(User.username == username))


def check_password(session: Session, *, username: str, password: str) -> User | None:
    """Return the active account when the password matches, rehashing it if the costs have changed."""
    user = get_by_username(session, username)
    if user is None or not user.active or not verify_password(user.password_hash, password):
        return None
    if password_needs_rehash(user.password_hash):
        # Only now is the plain password at hand: raising the costs takes effect at each user's next sign-in.
        user.password_hash = hash_password(password)
        session.flush()
    return user


def create_token(session: Session, *, user: User) -> str:
    """Create an API token for a user and return it; only its digest is stored."""
    token = new_token()
    session.add(ApiToken(user_id=user.id, digest=token_digest(token)))
    session.flush()
    return token


def get_by_token(session: Session, token: str) -> User | None:
    """Return the active account that owns a valid token."""
    row = session.scalar(select(ApiToken).where(ApiToken.digest == token_digest(token), ApiToken.revoked.is_(False)))
    if row is None or not row.user.active:
        return None
    return row.user
