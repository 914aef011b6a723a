"""Errors the case domain raises; each carries the HTTP status an API maps it to."""

from __future__ import annotations


class CaseError(Exception):
    """A request the case domain refuses; ``status`` is the HTTP status an API maps it to."""

    status = 400


class NotFound(CaseError):
    status = 404


class Invalid(CaseError):
    status = 422


class Conflict(CaseError):
    status = 409


class Forbidden(CaseError):
    status = 403
