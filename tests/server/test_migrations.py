"""Migrations are the only way a schema is made, and they match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from server.models_registry import load_models


def test_migrated_schema_matches_the_models(database):
    metadata = load_models()
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == []
    tables = set(inspect(database.engine).get_table_names())
    assert {"petitions", "audit_events", "audit_head", "units", "areas", "categories", "users",
            "alembic_version"} <= tables
