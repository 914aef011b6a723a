"""The three rates come from SQL aggregates: they equal the per-petition computation they replaced, on both databases."""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cases import performance
from cases.enums import TERMINAL, Status
from cases.importing.service import import_file
from cases.models import Feedback, Petition

UNITS = ["YL-GOV", "CS-HRSS", "YH-ZJJ"]
STATUSES = ["registered", "accepted", "assigned", "in_progress", "replied", "closed", "final", "not_accepted"]


def per_petition(session, since: datetime, until: datetime) -> dict[str, tuple]:
    """Compute each lead unit's figures petition by petition, as the console did before."""
    out: dict[str, list] = {}
    rows = session.scalars(select(Petition).where(Petition.received_at >= since, Petition.received_at < until,
                                                  Petition.lead_unit_id.is_not(None))
                           .options(selectinload(Petition.feedbacks), selectinload(Petition.lead_unit)))
    for p in rows:
        f = out.setdefault(p.lead_unit.code, [0, 0, 0, 0, 0, 0, 0, []])
        f[0] += 1
        if p.replied_at is not None:
            f[1] += 1
            f[2] += p.handle_due_at is None or p.replied_at <= p.handle_due_at
            if p.accepted_at is not None:
                f[7].append((p.replied_at - p.accepted_at).total_seconds() / 86400)
        f[3] += p.status in (Status.CLOSED, Status.FINAL)
        if p.feedbacks:
            f[4] += 1
            f[5] += bool(p.feedbacks[-1].satisfied)
        f[6] += p.overdue_since is not None and Status(p.status) not in TERMINAL
    return {code: (*f[:7], round(statistics.median(f[7]), 1) if f[7] else None) for code, f in out.items()}


def test_sql_figures_equal_the_per_petition_ones(db, tmp_path):
    rng = random.Random(5)
    now = datetime.now(UTC)
    lines = []
    for i in range(120):
        received = now - timedelta(days=rng.uniform(1, 200))
        row = {"source_id": f"P{i}", "received_at": received.isoformat(), "content": f"第{i}件", "status": rng.choice(STATUSES),
               "unit": rng.choice(UNITS)}
        if row["status"] not in ("registered", "not_accepted") and rng.random() < 0.8:
            row["accepted_at"] = (received + timedelta(hours=rng.uniform(1, 200))).isoformat()
        if row["status"] in ("replied", "closed", "final") and "accepted_at" in row:
            row["reply_text"] = "已答复"
            row["reply_at"] = (received + timedelta(days=rng.uniform(1, 90))).isoformat()
            if row["status"] != "replied" and rng.random() < 0.7:
                row["satisfied"] = rng.choice(["yes", "no"])
        lines.append(json.dumps(row, ensure_ascii=False))
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    report = import_file(db, path, progress=False)
    assert report.imported == 120, report.rejects
    with db.transaction() as s:
        # A later verdict counts, not the first one.
        for p in s.scalars(select(Petition).where(Petition.replied_at.is_not(None)).limit(10)):
            s.add(Feedback(petition_id=p.id, satisfied=p.id % 2 == 0, created_at=now))
    since, until = now - timedelta(days=150), now
    with db.session() as s:
        expected = per_petition(s, since, until)
        rows = performance.unit_performance(s, since=since, until=until)
        got = {f.unit_code: (f.received, f.replied, f.replied_on_time, f.resolved, f.with_feedback, f.satisfied,
                             f.open_overdue, f.median_handling_days) for f in rows}
        assert got == expected and len(got) == 3
        total = performance.period_total(s, rows, since=since, until=until)
        spans = [(p.replied_at - p.accepted_at).total_seconds() / 86400 for p in s.scalars(select(Petition).where(
            Petition.received_at >= since, Petition.lead_unit_id.is_not(None), Petition.replied_at.is_not(None),
            Petition.accepted_at.is_not(None)))]
        assert total.received == sum(v[0] for v in expected.values())
        assert total.median_handling_days == round(statistics.median(spans), 1)
        # A period with petitions but no reply has no median rather than an error.
        quiet = performance.unit_performance(s, since=now - timedelta(hours=1), until=now)
        assert performance.period_total(s, quiet, since=now - timedelta(hours=1), until=now).median_days is None


def test_boards_show_the_most_urgent_per_unit_and_count_all(db, tmp_path):
    now = datetime.now(UTC)
    rows = [{"source_id": f"O{i}", "received_at": (now - timedelta(days=100 + 7 * i)).isoformat(), "content": f"超期{i}",
             "status": "in_progress", "unit": "YL-GOV", "accepted_at": (now - timedelta(days=99 + 7 * i)).isoformat()}
            for i in range(5)]
    rows.append({"source_id": "O9", "received_at": (now - timedelta(days=90)).isoformat(), "content": "另一单位",
                 "status": "assigned", "unit": "CS-HRSS"})
    path = tmp_path / "overdue.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert import_file(db, path, progress=False).imported == 6
    with db.session() as s:
        boards = performance.overdue_board(s, per_unit=2)
        assert [(b.unit_code, b.total, len(b.petitions)) for b in boards] == [("YL-GOV", 5, 2), ("CS-HRSS", 1, 1)]
        # The longest overdue come first: the oldest deadlines.
        assert [p.content for p in boards[0].petitions] == ["超期4", "超期3"]
