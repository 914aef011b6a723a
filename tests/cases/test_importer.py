"""`petition import`: historical petitions from CSV / JSONL keep their dates and statuses; bad rows are skipped and reported."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from cases import audit
from cases.importing.models import PetitionImportKey
from cases.models import Assignment, AuditEvent, Feedback, Petition, Petitioner, Reply, TrackingCounter
from cases.schemas import PetitionCreate
from cases.service import create_petition
from core.accounts import SYSTEM
from core.security import pii
from server.cli import main as cli

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = ["source_id", "tracking_no", "received_at", "channel", "留言主题", "content", "category", "area", "unit", "status",
          "accepted_at", "closed_at", "petitioner_name", "petitioner_phone", "petitioner_id_number", "reply_text", "reply_at",
          "satisfied"]


def id_number(body: str) -> str:
    """Return body (17 digits) with its GB 11643 check character."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


GOOD_ID = id_number("43010419800101123")
BAD_ID = GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1")


def row(**values) -> list[str]:
    base = {"received_at": "2024-01-05 09:30:00", "channel": "phone", "留言主题": "小区路灯坏了",
            "content": "小区门口路灯坏了一个多月，晚上出行不便。", "area": "430104"}
    base.update(values)
    return [base.get(column, "") for column in HEADER]


def write_csv(path, rows, *, bom: bool = True) -> None:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)


@pytest.fixture
def history_csv(tmp_path):
    path = tmp_path / "history.csv"
    write_csv(path, [
        row(source_id="A1", category="城乡建设", unit="YL-GOV", status="closed", accepted_at="2024-01-06 10:00",
            closed_at="2024-02-20 12:00", petitioner_name="张三", petitioner_id_number=GOOD_ID,
            reply_text="经核查，路灯已修复。", reply_at="2024-02-01 16:00:00", satisfied="是"),
        row(source_id="A2", received_at="2024-03-01T08:00:00+08:00", status="registered", petitioner_phone="138 0000 1111"),
        row(source_id="A3", tracking_no="XF-20240105-000007", status="in_progress", unit="岳麓区人民政府",
            accepted_at="2024-01-05 15:00", petitioner_phone="13800001111", petitioner_name="李四"),
        row(source_id="B4", content=""),
        row(source_id="B5", category="不存在的分类"),
        row(source_id="B6", area="999999"),
        row(source_id="B7", unit="NO-SUCH-UNIT"),
        row(source_id="B8", received_at="2024-13-45 25:00"),
        row(source_id="B9", petitioner_phone="12ab"),
        row(source_id="B10", petitioner_id_number=BAD_ID),
        row(source_id="B11", tracking_no="XF-20240105-000007", content="另一件信访"),
        row(source_id="B12", received_at=(datetime.now(UTC) + timedelta(days=3)).isoformat()),
    ])
    return path


def run(*args: str):
    return CliRunner().invoke(cli, ["import", "--no-progress", *args], catch_exceptions=False)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_csv_keeps_history_and_reports_bad_rows(db, history_csv):
    result = run(str(history_csv))
    assert result.exit_code == 0, result.output
    assert "read 12, imported 3, already imported 0, skipped 9" in result.output
    with (history_csv.parent / "history.csv.rejects.csv").open(encoding="utf-8") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["line"], r["column"]) for r in rejects] == [
        ("5", "content"), ("6", "category"), ("7", "area"), ("8", "unit"), ("9", "received_at"),
        ("10", "petitioner_phone"), ("11", "petitioner_id_number"), ("12", "tracking_no"), ("13", "received_at")]
    assert "repeats line 4" in rejects[7]["reason"] and "身份证" in rejects[6]["reason"]

    with db.session() as s:
        by_status = {p.status: p for p in s.scalars(select(Petition))}
        closed, open_, working = by_status["closed"], by_status["registered"], by_status["in_progress"]
        # Dates and statuses are the file's own; the tracking number follows the receipt day.
        assert closed.received_at == datetime(2024, 1, 5, 9, 30, tzinfo=SHANGHAI)
        assert closed.replied_at == datetime(2024, 2, 1, 16, 0, tzinfo=SHANGHAI)
        assert closed.closed_at == datetime(2024, 2, 20, 12, 0, tzinfo=SHANGHAI) and closed.due_at is None
        assert closed.title == "小区路灯坏了" and closed.category.name == "城乡建设" and closed.lead_unit.code == "YL-GOV"
        assert working.tracking_no == "XF-20240105-000007" and working.lead_unit.code == "YL-GOV"
        assert closed.tracking_no == "XF-20240105-000008"
        assert open_.tracking_no == "XF-20240301-000001"
        # A petition long past its deadline comes in overdue, so the deadline scan leaves it alone.
        assert open_.due_at == open_.accept_due_at and open_.overdue_since == open_.due_at
        assert [r.text for r in closed.replies] == ["经核查，路灯已修复。"]
        assert [f.satisfied for f in closed.feedbacks] == [True]
        assert [(a.unit.code, a.role) for a in closed.assignments] == [("YL-GOV", "lead")]
        # One person per phone number; personal data stored encrypted, findable by its keyed hash.
        assert open_.petitioner_id == working.petitioner_id != closed.petitioner_id
        assert closed.petitioner.id_number == GOOD_ID and working.petitioner.name == "李四"
        assert working.petitioner.phone_hash == pii().lookup_hash("13800001111")
        stored = s.execute(text("SELECT name, phone, id_number FROM petitioners")).all()
        assert all(v is None or v.startswith("v1:") for person in stored for v in person)
        assert count(s, Petitioner) == 2 and count(s, Reply) == 1 and count(s, Feedback) == 1 and count(s, Assignment) == 2
        # No live machinery ran: one audit event for the batch, none per petition.
        events = list(s.scalars(select(AuditEvent)))
        assert [(e.action, e.petition_id, e.data["count"]) for e in events] == [("import", None, 3)]
        assert audit.verify(s).ok


def test_rerun_is_idempotent_and_live_numbers_continue(db, history_csv):
    assert run(str(history_csv)).exit_code == 0
    again = run(str(history_csv))
    assert again.exit_code == 0, again.output
    assert "imported 0, already imported 3, skipped 9" in again.output
    with db.transaction() as s:
        assert count(s, Petition) == 3 and count(s, PetitionImportKey) == 3 and count(s, AuditEvent) == 1
        assert s.get(TrackingCounter, "20240105").last == 8
        live, _ = create_petition(s, data=PetitionCreate(title="补登", content="补登一件历史来信", area_code="430104",
                                                         received_at=datetime(2024, 1, 5, 20, 0, tzinfo=SHANGHAI)),
                                  actor=SYSTEM)
        assert live.tracking_no == "XF-20240105-000009"


def test_jsonl_dry_run_syntax_errors_and_taken_numbers(db, history_csv, tmp_path):
    assert run(str(history_csv)).exit_code == 0
    path = tmp_path / "more.jsonl"
    good = {"received_at": "2024-04-02T10:00:00+08:00", "content": "工资拖欠三个月", "channel": "wechat",
            "petitioner": {"phone": "13900002222"}, "reply_text": "已督促企业支付。", "reply_at": "2024-04-20 09:00:00"}
    taken = {"tracking_no": "XF-20240105-000007", "received_at": "2024-01-05 11:00:00", "content": "不同的内容"}
    path.write_text("\n".join(['{"content": "缺右括号"', json.dumps(good, ensure_ascii=False), "",
                               json.dumps(taken, ensure_ascii=False), "[1, 2]"]) + "\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    dry = run(str(path), "--dry-run", "--rejects", str(rejects))
    assert dry.exit_code == 0 and "read 4, valid 1, already imported 0, skipped 3" in dry.output
    with db.session() as s:
        assert count(s, Petition) == 3
    done = run(str(path), "--rejects", str(rejects))
    assert done.exit_code == 0 and "imported 1" in done.output
    with rejects.open(encoding="utf-8") as fh:
        reasons = {int(r["line"]): r["reason"] for r in csv.DictReader(fh)}
    assert set(reasons) == {1, 4, 5}
    assert "JSON" in reasons[1] and "already exists" in reasons[4] and "JSON 对象" in reasons[5]
    with db.session() as s:
        p = s.scalar(select(Petition).where(Petition.channel == "wechat"))
        # No status and a reply: a historical reply that stands, closed on its reply.
        assert (p.status, p.closed_at, p.replied_at) == ("closed", p.replied_at, datetime(2024, 4, 20, 9, tzinfo=SHANGHAI))


def test_nothing_imported_exits_1(db, tmp_path):
    path = tmp_path / "bad.csv"
    write_csv(path, [row(content=""), row(area="nowhere")], bom=False)
    result = run(str(path))
    assert result.exit_code == 1
    assert "imported 0, already imported 0, skipped 2" in result.output
    unknown = tmp_path / "data.txt"
    unknown.write_text("x\n", encoding="utf-8")
    assert "pass --format" in run(str(unknown)).output


def test_one_audit_event_per_petition_on_request(db, tmp_path):
    path = tmp_path / "few.csv"
    write_csv(path, [row(source_id=f"C{i}", received_at=f"2024-05-0{i} 10:00:00") for i in range(1, 4)])
    result = run(str(path), "--audit-each", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    with db.session() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        petitions = {p.id: p.tracking_no for p in s.scalars(select(Petition))}
        assert [e.seq for e in events] == [1, 2, 3] and {e.petition_id for e in events} == set(petitions)
        assert sorted(e.data["tracking_no"] for e in events) == sorted(petitions.values())
        assert audit.verify(s).ok
