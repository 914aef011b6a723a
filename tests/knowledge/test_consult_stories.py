"""Consultation stories (tests/knowledge/stories/*.yml) run by the dialogue stories' runner, on SQLite and PostgreSQL.

Each story may list `knowledge`: entries (question, answer, unit, source, issued_on, valid_from, valid_until,
status, language) in the knowledge base before its first step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge import service as knowledge
from tests.bot import test_stories as runner
from tests.conftest import ADMIN

STORIES = Path(__file__).parent / "stories"


def _load() -> list[dict]:
    stories = []
    for path in sorted(STORIES.glob("*.yml")):
        for story in yaml.safe_load(path.read_text(encoding="utf-8"))["stories"]:
            story["file"] = path.name
            stories.append(story)
    return stories


ALL = _load()


@pytest.mark.parametrize("story", ALL, ids=[f"{s['file']}:{s['story']}" for s in ALL])
def test_consult_story(db, story):
    with db.transaction() as session:
        for fields in story.get("knowledge", []):
            knowledge.create_entry(session, data=knowledge.EntryIn(**fields), actor=ADMIN)
    runner.test_story(db, story)
