"""Shared foundations: settings, database, task runner, domain events, security primitives, logging."""
