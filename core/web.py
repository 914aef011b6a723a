"""Web plumbing shared by every package's routes: transactions, staff authentication, errors."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core.accounts import Actor, Role, get_by_token
from core.db import Database

_bearer = HTTPBearer(auto_error=False, description="a staff API token from `petition token create`")


def database(request: Request) -> Database:
    """Return the app's database."""
    return request.app.state.db


@contextlib.contextmanager
def transaction(request: Request) -> Iterator[Session]:
    """Yield a session whose transaction commits when the block succeeds (one per request)."""
    with database(request).transaction() as session:
        yield session


def current_actor(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    """Authenticate a staff request by its bearer token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "staff endpoint: send Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    token = credentials.credentials
    bootstrap = request.app.state.settings.bootstrap_admin_token
    if bootstrap is not None and secrets.compare_digest(token.encode(), bootstrap.get_secret_value().encode()):
        return Actor("bootstrap-admin", Role.ADMIN)
    with database(request).session() as session:
        user = get_by_token(session, token)
        if user is None:
            raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        return Actor.of(user)


StaffActor = Annotated[Actor, Depends(current_actor)]
