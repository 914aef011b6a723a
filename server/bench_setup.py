"""Prepare a database for the benchmarks: migrate, taxonomy, the demo areas and units (no petitions)."""

from __future__ import annotations

from cases import catalog
from server.cli import _db
from server.demo import load_reference
from server.migrate import upgrade


def main() -> None:
    """Migrate the configured database and load the reference data the bot needs."""
    db = _db()
    upgrade(db)
    with db.transaction() as session:
        catalog.load_taxonomy(session)
        load_reference(session)


if __name__ == "__main__":
    main()
