"""Bulk import of historical petitions: read CSV or JSONL, check every row, insert valid rows in batches.

Historical rows keep their own dates, status, unit and reply: they do not pass through the status machine,
queue no routing or risk task and notify nobody. Deadlines are computed by the statutory clock from the
rows' own dates; a deadline that has already passed marks an open petition overdue at once (so the deadline
scan does not audit it again), and a lapsed feedback window is left empty (so the scan does not close the
petition and message the citizen years later).

Every source row has a key: the keyed hash of its ``source_id`` when the file has one, else of its whole
content. The key is stored with the petition, so re-importing a file skips what is already in.
"""

from __future__ import annotations

import csv
import hashlib
import json
import secrets
import time as clock_time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from cases import audit, catalog
from cases.enums import TERMINAL, Channel, Status, UnitRole
from cases.importing.models import PetitionImportKey
from cases.models import Assignment, Feedback, Petition, Petitioner, Reply, TrackingCounter
from cases.schemas import id_number_is_valid
from cases.service import COLLECTIVE_HEAD_COUNT, clock
from core.db import Database, insert_for, utcnow
from core.security import pii
from core.settings import get_settings

BATCH_SIZE = 5000
FORMATS = ("csv", "jsonl")
TRACKING_NO_PARTS = 3
MAX_DAILY_SEQ = 999_999
GIN_PENDING_LIST = "64MB"

# Column name -> the names a file may use for it (English first, then the usual Chinese headings).
COLUMNS: dict[str, tuple[str, ...]] = {
    "tracking_no": ("tracking_no", "信访件编号", "编号"),
    "source_id": ("source_id", "留言编号", "来源编号"),
    "received_at": ("received_at", "registered_at", "留言时间", "登记时间"),
    "channel": ("channel", "渠道"),
    "language": ("language", "语言"),
    "title": ("title", "留言主题", "标题"),
    "content": ("content", "body", "留言详情", "内容"),
    "category": ("category", "一级标签", "分类"),
    "area": ("area", "area_code", "地区"),
    "address": ("address", "地址"),
    "head_count": ("head_count", "人数"),
    "demand": ("demand", "诉求"),
    "occurred_on": ("occurred_on", "发生时间"),
    "unit": ("unit", "lead_unit", "承办单位"),
    "status": ("status", "状态"),
    "accepted_at": ("accepted_at", "受理时间"),
    "closed_at": ("closed_at", "办结时间"),
    "petitioner_name": ("petitioner_name", "姓名"),
    "petitioner_phone": ("petitioner_phone", "电话"),
    "petitioner_id_number": ("petitioner_id_number", "身份证号"),
    "reply_text": ("reply_text", "答复意见"),
    "reply_at": ("reply_at", "答复时间"),
    "satisfied": ("satisfied", "是否满意"),
}
_ALIASES = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}
_LIMITS = {"title": 200, "content": 20000, "address": 300, "demand": 5000, "occurred_on": 40, "petitioner_name": 100}
_YES = {"1", "true", "yes", "y", "是", "满意"}
_NO = {"0", "false", "no", "n", "否", "不满意"}
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
# Statuses after acceptance whose handling deadline runs (or ran) from acceptance.
_HANDLING = {Status.ACCEPTED, Status.ASSIGNED, Status.IN_PROGRESS}


class FileRefused(Exception):
    """A file that cannot be imported at all (unknown format, unreadable header)."""


class BadRow(Exception):
    """A row that is skipped, with the field at fault and the reason in Chinese and English."""

    def __init__(self, column: str, zh: str, en: str):
        super().__init__(en)
        self.column, self.zh, self.en = column, zh, en

    @property
    def reason(self) -> str:
        return f"{self.zh} / {self.en}"


@dataclass
class Reject:
    """A skipped row: the file, its line and why."""

    file: str
    line: int
    column: str
    reason: str


@dataclass
class Row:
    """A checked row, ready to insert."""

    line: int
    key: str
    tracking_no: str | None
    received_day: str
    petition: dict
    unit_id: int | None
    person: tuple[str | None, str | None, str | None] | None
    reply: tuple[str, datetime] | None
    satisfied: bool | None


@dataclass
class Report:
    """What an import did with one file."""

    file: str
    read: int = 0
    imported: int = 0
    already: int = 0
    rejects: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    batches: int = 0
    dry_run: bool = False
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.rejects)

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def summary(self, rejects_path: str | None = None) -> str:
        """Say in one line what was read, imported and skipped, and how fast."""
        verb = "valid" if self.dry_run else "imported"
        where = f" (see {rejects_path})" if rejects_path and self.rejects else ""
        return (f"{self.file}: read {self.read}, {verb} {self.imported}, already imported {self.already}, "
                f"skipped {self.skipped}{where}; {self.seconds:.1f} s, {self.rate:,.0f} rows/s")


def detect_format(path: Path, fmt: str | None = None) -> str:
    """Return the file's format: the one given, else by extension (.csv, .jsonl / .ndjson)."""
    if fmt:
        if fmt not in FORMATS:
            raise FileRefused(f"unknown format {fmt!r}; use csv or jsonl")
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise FileRefused(f"{path.name}: cannot tell the format from the extension; pass --format csv or jsonl")


def read_rows(path: Path, fmt: str, *, on_bytes: Callable[[int], None] | None = None
              ) -> Iterator[tuple[int, dict | BadRow]]:
    """Yield (line number, raw row) per record, or (line, BadRow) for a record that cannot be parsed."""
    with path.open("rb") as fh:
        lines = _decoded(fh, on_bytes)
        if fmt == "jsonl":
            for line_no, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield line_no, BadRow("", f"JSON 语法错误：{exc.msg}（第 {exc.colno} 列）",
                                          f"JSON syntax error: {exc.msg} at column {exc.colno}")
                    continue
                if not isinstance(raw, dict):
                    yield line_no, BadRow("", "每行应为一个 JSON 对象", "each line must be one JSON object")
                    continue
                yield line_no, _flatten(raw)
            return
        reader = csv.reader(lines)
        try:
            header = next(reader)
        except StopIteration:
            return
        header = [h.strip() for h in header]
        start = reader.line_num + 1
        for values in reader:
            line_no, start = start, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                yield line_no, BadRow("", f"字段数 {len(values)} 多于表头的 {len(header)} 个",
                                      f"{len(values)} fields but the header has {len(header)}")
                continue
            yield line_no, dict(zip(header, values, strict=False))


def _decoded(fh, on_bytes: Callable[[int], None] | None) -> Iterator[str]:
    first = True
    for raw in fh:
        if on_bytes is not None:
            on_bytes(len(raw))
        line = raw.decode("utf-8", errors="replace")
        if first:
            line, first = line.removeprefix("\ufeff"), False
        yield line


def _flatten(raw: dict) -> dict:
    person = raw.get("petitioner")
    if isinstance(person, dict):
        raw = {k: v for k, v in raw.items() if k != "petitioner"}
        for key in ("name", "phone", "id_number"):
            if person.get(key) is not None:
                raw.setdefault(f"petitioner_{key}", person[key])
    return raw


def _text(value) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


class Checker:
    """Check raw rows against the reference data (categories, areas, units) and turn them into petition values."""

    def __init__(self, database: Database, *, now: datetime | None = None):
        self.database = database
        self.now = now or utcnow()
        self.zone = ZoneInfo(get_settings().timezone)
        self.clock = clock()
        self.cipher = pii()
        self._categories: dict[str, int | None] = {}
        self._deadlines: dict[tuple[str, date], datetime] = {}
        with database.session() as session:
            areas = catalog.list_areas(session)
            units = catalog.list_units(session, active_only=False)
        self.areas = {a.code: a.code for a in areas}
        for a in areas:
            for name in (a.name, a.name_en):
                if name:
                    self.areas.setdefault(name, a.code)
        self.units = {u.code: u.id for u in units}
        for u in units:
            self.units.setdefault(u.name, u.id)
        self.ignored: set[str] = set()

    def normalise(self, raw: dict) -> dict[str, str]:
        """Map the file's column names to ours and strip the values; unknown columns are noted and dropped."""
        out: dict[str, str] = {}
        for name, value in raw.items():
            column = _ALIASES.get(name.strip() if isinstance(name, str) else name)
            if column is None:
                if name is not None:
                    self.ignored.add(str(name))
                continue
            value = _text(value)
            if value:
                out[column] = value
        return out

    def check(self, line: int, raw: dict) -> Row:
        """Return the row's petition values, or raise BadRow naming the first fault."""
        r = self.normalise(raw)
        content = r.get("content", "")
        if not content:
            raise BadRow("content", "缺少正文", "the body (content) is missing")
        title = r.get("title") or content[:30]
        for column, limit in _LIMITS.items():
            value = title if column == "title" else r.get(column)
            if value and len(value) > limit:
                raise BadRow(column, f"{column} 超过 {limit} 字", f"{column} is longer than {limit} characters")
        received = self._moment(r, "received_at", required=True)
        if received > self.now:
            raise BadRow("received_at", "登记时间晚于现在", "received_at lies in the future")
        channel = r.get("channel", Channel.API.value).lower()
        if channel not in set(Channel):
            raise BadRow("channel", f"未知渠道 {channel}", f"unknown channel {channel!r}")
        language = r.get("language", "zh").lower()
        if language not in ("zh", "en"):
            raise BadRow("language", "语言应为 zh 或 en", "language must be zh or en")
        category_id = self._category(r.get("category"))
        area_code = None
        if r.get("area"):
            area_code = self.areas.get(r["area"])
            if area_code is None:
                raise BadRow("area", f"未知地区 {r['area']}", f"unknown area {r['area']!r}")
        unit_id = None
        if r.get("unit"):
            unit_id = self.units.get(r["unit"])
            if unit_id is None:
                raise BadRow("unit", f"未知单位 {r['unit']}", f"unknown unit {r['unit']!r}")
        head_count = self._head_count(r.get("head_count"))
        reply = None
        if r.get("reply_text"):
            reply_at = self._moment(r, "reply_at", required=True)
            if reply_at < received:
                raise BadRow("reply_at", "答复时间早于登记时间", "reply_at is before received_at")
            reply = (r["reply_text"], reply_at)
        elif r.get("reply_at"):
            raise BadRow("reply_text", "有答复时间却没有答复内容", "reply_at is given without reply_text")
        status = self._status(r.get("status"), reply is not None)
        accepted = self._moment(r, "accepted_at")
        closed = self._moment(r, "closed_at")
        if accepted and accepted < received:
            raise BadRow("accepted_at", "受理时间早于登记时间", "accepted_at is before received_at")
        if closed and status not in TERMINAL:
            raise BadRow("closed_at", f"状态 {status} 尚未办结，不应有办结时间", f"closed_at given for an open status ({status})")
        satisfied = self._satisfied(r.get("satisfied"), reply is not None)
        person = self._person(r)
        tracking_no = self._tracking_no(r.get("tracking_no"))
        values = self._petition(received=received, accepted=accepted, closed=closed, reply=reply, status=status)
        values.update(title=title, content=content, channel=channel, language=language, category_id=category_id,
                      area_code=area_code, address=r.get("address"), head_count=head_count,
                      is_collective=head_count >= COLLECTIVE_HEAD_COUNT, demand=r.get("demand"),
                      occurred_on=r.get("occurred_on"), lead_unit_id=unit_id)
        key_source = f"source:{r['source_id']}" if r.get("source_id") else \
            "row:" + json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        key = self.cipher.lookup_hash("petition-import:" + key_source)
        day = received.astimezone(self.zone).strftime("%Y%m%d")
        return Row(line, key, tracking_no, day, values, unit_id, person, reply, satisfied)

    def _moment(self, r: dict, column: str, *, required: bool = False) -> datetime | None:
        value = r.get(column)
        if not value:
            if required:
                raise BadRow(column, f"缺少 {column}", f"{column} is missing")
            return None
        value = value.replace("/", "-")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
            for fmt in _DATE_FORMATS:
                try:
                    moment = datetime.strptime(value, fmt)
                    break
                except ValueError:
                    continue
        if moment is None:
            raise BadRow(column, f"{column} 不是有效的日期时间：{value[:40]}",
                         f"{column} is not a date-time (ISO 8601 or YYYY-MM-DD HH:MM:SS): {value[:40]!r}")
        return (moment.replace(tzinfo=self.zone) if moment.tzinfo is None else moment).astimezone(UTC)

    def _category(self, ref: str | None) -> int | None:
        if not ref:
            return None
        if ref not in self._categories:
            with self.database.session() as session:
                node = catalog.resolve_category(session, ref)
            self._categories[ref] = node.id if node else None
        found = self._categories[ref]
        if found is None:
            raise BadRow("category", f"未知分类 {ref}", f"unknown category {ref!r}")
        return found

    @staticmethod
    def _head_count(value: str | None) -> int:
        if not value:
            return 1
        if not value.isdigit() or not 1 <= int(value) <= 100000:
            raise BadRow("head_count", "人数应为 1 到 100000 的整数", "head_count must be a whole number from 1 to 100000")
        return int(value)

    @staticmethod
    def _status(value: str | None, replied: bool) -> Status:
        if not value:
            return Status.CLOSED if replied else Status.REGISTERED
        try:
            return Status(value.lower())
        except ValueError:
            raise BadRow("status", f"未知状态 {value}", f"unknown status {value!r}") from None

    @staticmethod
    def _satisfied(value: str | None, replied: bool) -> bool | None:
        if not value:
            return None
        if not replied:
            raise BadRow("satisfied", "没有答复，不能有满意度", "satisfied is given without a reply")
        if value.lower() in _YES:
            return True
        if value.lower() in _NO:
            return False
        raise BadRow("satisfied", "满意度应为 是/否", "satisfied must be yes or no")

    @staticmethod
    def _person(r: dict) -> tuple[str | None, str | None, str | None] | None:
        name, phone, id_number = r.get("petitioner_name"), r.get("petitioner_phone"), r.get("petitioner_id_number")
        if phone:
            digits = "".join(c for c in phone if c not in " -()")
            if not (digits.lstrip("+").isdigit() and 5 <= len(digits.lstrip("+")) <= 15):
                raise BadRow("petitioner_phone", "电话号码应为 5 到 15 位数字", "the phone number must be 5 to 15 digits")
            phone = digits
        if id_number:
            if not id_number_is_valid(id_number):
                raise BadRow("petitioner_id_number", "身份证号码格式或校验位错误",
                             "the ID number is not 18 characters with a valid check character")
            id_number = id_number.upper()
        return (name, phone, id_number) if (name or phone or id_number) else None

    @staticmethod
    def _tracking_no(value: str | None) -> str | None:
        if not value:
            return None
        value = value.upper()
        parts = value.split("-")
        if (len(parts) != TRACKING_NO_PARTS or parts[0] != "XF" or len(parts[1]) != 8 or not parts[1].isdigit()
                or len(parts[2]) != 6 or not parts[2].isdigit() or parts[2] == "000000"):
            raise BadRow("tracking_no", f"编号格式不对：{value[:30]}（应为 XF-年月日-六位序号）",
                         f"not a tracking number: {value[:30]!r} (expected XF-YYYYMMDD-NNNNNN)")
        return value

    def _deadline(self, kind: str, start: datetime) -> datetime:
        period = self.clock.period(kind)
        if period.unit == "hours":
            return self.clock.deadline(kind, start)
        # Day-counted periods depend only on the local day they start on.
        day = start.astimezone(self.zone).date()
        found = self._deadlines.get((kind, day))
        if found is None:
            found = self._deadlines[(kind, day)] = self.clock.deadline(kind, start)
        return found

    def _petition(self, *, received: datetime, accepted: datetime | None, closed: datetime | None,
                  reply: tuple[str, datetime] | None, status: Status) -> dict:
        replied = reply[1] if reply else None
        v = {"status": status.value, "received_at": received, "accepted_at": accepted, "replied_at": replied,
             "accept_due_at": self._deadline("accept", received), "handle_due_at": None, "due_at": None,
             "feedback_due_at": None, "review_request_due_at": None, "overdue_since": None,
             "closed_at": (closed or replied or received) if status in TERMINAL else None}
        if status in _HANDLING or (replied and accepted):
            v["handle_due_at"] = self._deadline("handle", accepted or received)
        if status == Status.REGISTERED:
            v["due_at"] = v["accept_due_at"]
        elif status in _HANDLING:
            v["due_at"] = v["handle_due_at"]
        elif status == Status.REPLIED and replied:
            feedback_due = self._deadline("feedback", replied)
            # A lapsed window stays empty: the deadline scan would otherwise close it and message the citizen.
            v["feedback_due_at"] = feedback_due if feedback_due > self.now else None
            v["review_request_due_at"] = self._deadline("review_request", replied)
        if v["due_at"] is not None and v["due_at"] < self.now:
            v["overdue_since"] = v["due_at"]
        return v


@dataclass
class Batch:
    """What one batch wrote."""

    imported: int = 0
    already: int = 0
    rejects: list[tuple[int, BadRow]] = field(default_factory=list)


def do_import_batch(session: Session, *, rows: list[Row], actor: str, source: str, audit_each: bool = False,
                    dry_run: bool = False, now: datetime | None = None) -> Batch:
    """Insert one batch of checked rows that are not in yet, with one audit event for the batch (or one each)."""
    now = now or utcnow()
    out = Batch()
    keys = {r.key for r in rows}
    known = set(session.scalars(select(PetitionImportKey.key).where(PetitionImportKey.key.in_(keys)))) if keys else set()
    fresh = []
    for r in rows:
        if r.key in known:
            out.already += 1
        else:
            fresh.append(r)
    supplied = [r.tracking_no for r in fresh if r.tracking_no]
    taken = set(session.scalars(select(Petition.tracking_no).where(Petition.tracking_no.in_(supplied)))) if supplied else set()
    rows = []
    for r in fresh:
        if r.tracking_no in taken:
            out.rejects.append((r.line, BadRow("tracking_no", f"编号 {r.tracking_no} 已存在",
                                                f"tracking number {r.tracking_no} already exists")))
        else:
            rows.append(r)
    if dry_run or not rows:
        out.imported = len(rows) if dry_run else 0
        return out
    rows = _number(session, rows, out)
    if not rows:
        return out
    person_ids = _petitioners(session, rows, now)
    ids = _allocate_ids(session, Petition.__table__, len(rows))
    petitions, assignments, replies, feedbacks, import_keys = [], [], [], [], []
    for pid, r in zip(ids, rows, strict=True):
        p = r.petition
        petitions.append({**p, "id": pid, "tracking_no": r.tracking_no, "petitioner_id": person_ids.get(r.line),
                          "query_code_hash": pii().lookup_hash("query-code:" + secrets.token_hex(16)),
                          "created_at": now, "updated_at": now, "version": 1})
        if r.unit_id is not None:
            assignments.append({"petition_id": pid, "unit_id": r.unit_id, "role": UnitRole.LEAD.value, "active": True,
                                "assigned_by": actor, "assigned_at": p["accepted_at"] or p["received_at"]})
        if r.reply is not None:
            replies.append({"petition_id": pid, "kind": "reply", "unit_id": r.unit_id, "text": r.reply[0], "author": actor,
                            "created_at": r.reply[1]})
            if r.satisfied is not None:
                feedbacks.append({"petition_id": pid, "satisfied": r.satisfied, "reason": None,
                                  "created_at": p["closed_at"] or r.reply[1]})
        import_keys.append({"key": r.key, "petition_id": pid, "imported_at": now})
    # Plain executemany: PostgreSQL's COPY was measured no faster here (the indexes' upkeep dominates).
    for table, values in ((Petition, petitions), (Assignment, assignments), (Reply, replies), (Feedback, feedbacks),
                          (PetitionImportKey, import_keys)):
        _insert(session, table.__table__, values)
    digest = hashlib.sha256("\n".join(f"{p['id']}:{p['tracking_no']}:{k['key']}"
                                      for p, k in zip(petitions, import_keys, strict=True)).encode()).hexdigest()
    if audit_each:
        audit.append_many(session, [{"actor": actor, "action": "import", "petition_id": p["id"], "to_status": p["status"],
                                     "data": {"source": source, "line": r.line, "tracking_no": p["tracking_no"]}}
                                    for p, r in zip(petitions, rows, strict=True)], at=now)
    else:
        audit.append(session, actor=actor, action="import", at=now, data={
            "source": source, "lines": [rows[0].line, rows[-1].line], "count": len(petitions),
            "ids": [petitions[0]["id"], petitions[-1]["id"]], "sha256": digest})
    out.imported = len(petitions)
    return out


def _number(session: Session, rows: list[Row], out: Batch) -> list[Row]:
    """Give rows without a tracking number the next free ones of their day; keep the counters past supplied ones."""
    upsert = insert_for(session)
    dialect = session.get_bind().dialect.name
    supplied: dict[str, int] = {}
    for r in rows:
        if r.tracking_no:
            _, day, seq = r.tracking_no.split("-")
            supplied[day] = max(supplied.get(day, 0), int(seq))
    if supplied:
        higher = func.greatest if dialect == "postgresql" else func.max
        stmt = upsert(TrackingCounter).values([{"day": d, "last": n} for d, n in sorted(supplied.items())])
        session.execute(stmt.on_conflict_do_update(index_elements=[TrackingCounter.day],
                                                   set_={"last": higher(TrackingCounter.last, stmt.excluded.last)}))
    wanted: dict[str, int] = {}
    for r in rows:
        if not r.tracking_no:
            wanted[r.received_day] = wanted.get(r.received_day, 0) + 1
    if not wanted:
        return rows
    stmt = upsert(TrackingCounter).values([{"day": d, "last": n} for d, n in sorted(wanted.items())])
    stmt = stmt.on_conflict_do_update(index_elements=[TrackingCounter.day],
                                      set_={"last": TrackingCounter.last + stmt.excluded.last})
    last = dict(session.execute(stmt.returning(TrackingCounter.day, TrackingCounter.last)).all())
    nxt = {d: last[d] - n + 1 for d, n in wanted.items()}
    kept = []
    for r in rows:
        if not r.tracking_no:
            seq = nxt[r.received_day]
            nxt[r.received_day] += 1
            if seq > MAX_DAILY_SEQ:
                out.rejects.append((r.line, BadRow("tracking_no", f"{r.received_day} 当日编号已用完",
                                                    f"the tracking numbers of {r.received_day} are used up")))
                continue
            r.tracking_no = f"XF-{r.received_day}-{seq:06d}"
        kept.append(r)
    return kept


def _petitioners(session: Session, rows: list[Row], now: datetime) -> dict[int, int]:
    """Return the petitioner id of each row (by line) with one: the known person of that ID number or phone, or a new one."""
    cipher = pii()
    wanted = [(r.line, r.person, cipher.lookup_hash(r.person[2]) if r.person[2] else None,
               cipher.lookup_hash(r.person[1]) if r.person[1] else None) for r in rows if r.person]
    if not wanted:
        return {}
    # As find_or_create_petitioner: an ID number identifies a person; a phone does only when no ID number is given.
    id_hashes = {h for _, _, h, _ in wanted if h}
    phone_hashes = {p for _, _, h, p in wanted if p and not h}
    by_id: dict[str, int | dict] = {}
    by_phone: dict[str, int | dict] = {}
    if id_hashes:
        by_id.update(session.execute(select(Petitioner.id_number_hash, func.min(Petitioner.id))
                                     .where(Petitioner.id_number_hash.in_(id_hashes))
                                     .group_by(Petitioner.id_number_hash)).all())
    if phone_hashes:
        by_phone.update(session.execute(select(Petitioner.phone_hash, func.min(Petitioner.id))
                                        .where(Petitioner.phone_hash.in_(phone_hashes))
                                        .group_by(Petitioner.phone_hash)).all())
    new: list[dict] = []
    refs: list[tuple[int, int | dict]] = []
    for line, (name, phone, id_number), id_hash, phone_hash in wanted:
        ref = by_id.get(id_hash) if id_hash else (by_phone.get(phone_hash) if phone_hash else None)
        if ref is None:
            ref = {"name": name, "phone": phone, "phone_hash": phone_hash, "id_number": id_number,
                   "id_number_hash": id_hash, "created_at": now}
            new.append(ref)
            # The same new person twice in one batch is one petitioner.
            if id_hash:
                by_id[id_hash] = ref
            elif phone_hash:
                by_phone[phone_hash] = ref
        elif isinstance(ref, dict) and not ref["name"]:
            # A person first seen in this batch takes a name a later row gives; known people are left as they are.
            ref["name"] = name
        refs.append((line, ref))
    for pid, person in zip(_allocate_ids(session, Petitioner.__table__, len(new)), new, strict=True):
        person["id"] = pid
    _insert(session, Petitioner.__table__, new)
    return {line: ref if isinstance(ref, int) else ref["id"] for line, ref in refs}


def _allocate_ids(session: Session, table: Table, n: int) -> list[int]:
    """Reserve n primary keys of a table: from its sequence on PostgreSQL, above the maximum on SQLite."""
    if n == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                    {"t": table.name, "n": n}))
    # SQLite: the transaction began IMMEDIATE, so nobody else inserts until it commits.
    top = session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
    return list(range(top + 1, top + n + 1))


def _insert(session: Session, table: Table, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(table), rows)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_file(database: Database, path: Path | str, *, fmt: str | None = None, actor: str = "import",
                batch_size: int = BATCH_SIZE, dry_run: bool = False, audit_each: bool = False,
                progress: bool | None = None, analyze: bool = True) -> Report:
    """Import one file batch by batch, one transaction per batch (like a task), and report what happened."""
    from tqdm import tqdm

    path = Path(path)
    fmt = detect_format(path, fmt)
    started = clock_time.perf_counter()
    report = Report(file=str(path), dry_run=dry_run)
    checker = Checker(database)
    bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name, disable=progress is False,
               leave=False, mininterval=0.5)
    seen_keys: dict[bytes, int] = {}
    seen_numbers: dict[str, int] = {}

    def checked() -> Iterator[Row]:
        for line, raw in read_rows(path, fmt, on_bytes=bar.update):
            report.read += 1
            try:
                if isinstance(raw, BadRow):
                    raise raw
                row = checker.check(line, raw)
                short = bytes.fromhex(row.key[:32])
                if short in seen_keys:
                    raise BadRow("", f"与第 {seen_keys[short]} 行重复", f"duplicate of line {seen_keys[short]}")
                if row.tracking_no and row.tracking_no in seen_numbers:
                    raise BadRow("tracking_no", f"编号 {row.tracking_no} 与第 {seen_numbers[row.tracking_no]} 行重复",
                                 f"tracking number {row.tracking_no} repeats line {seen_numbers[row.tracking_no]}")
            except BadRow as bad:
                report.rejects.append(Reject(str(path), line, bad.column, bad.reason))
                continue
            seen_keys[short] = line
            if row.tracking_no:
                seen_numbers[row.tracking_no] = line
            yield row

    postgres = database.settings.database_url.startswith("postgresql")
    try:
        for chunk in _batches(checked(), batch_size):
            if dry_run:
                with database.session() as session:
                    result = do_import_batch(session, rows=chunk, actor=actor, source=path.name, dry_run=True)
            else:
                with database.transaction() as session:
                    if postgres:
                        # The trigram index of title and body costs most of an insert; a larger pending list per
                        # batch lets GIN merge its new entries in bulk (10,000 rows into a million: 1.8x faster).
                        session.execute(text(f"SET LOCAL gin_pending_list_limit = '{GIN_PENDING_LIST}'"))
                    result = do_import_batch(session, rows=chunk, actor=actor, source=path.name, audit_each=audit_each)
            report.batches += 1
            report.imported += result.imported
            report.already += result.already
            report.rejects.extend(Reject(str(path), line, bad.column, bad.reason) for line, bad in result.rejects)
            bar.set_postfix(imported=report.imported, skipped=report.skipped, refresh=False)
    finally:
        bar.close()
    report.rejects.sort(key=lambda r: r.line)
    report.ignored_columns = sorted(checker.ignored)
    if postgres and report.imported and not dry_run:
        with database.transaction() as session:
            # Merge what the batches left pending, so that searches do not read a long pending list.
            for (index,) in session.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'petitions' "
                                                 "AND indexdef LIKE '%USING gin%'")):
                session.execute(text("SELECT gin_clean_pending_list(CAST(:index AS regclass))"), {"index": index})
            if analyze:
                # Fresh planner statistics, so that the first queries after a large import pick the right indexes.
                for table in ("petitions", "petitioners", "replies", "assignments", "feedbacks", "petition_import_keys"):
                    session.execute(text(f"ANALYZE {table}"))
    report.seconds = clock_time.perf_counter() - started
    return report


def write_rejects(path: Path | str, rejects: list[Reject], *, append: bool = False) -> None:
    """Write the skipped rows (file, line, column, reason) as a UTF-8 CSV."""
    path = Path(path)
    with path.open("a" if append else "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        if not append or fh.tell() == 0:
            writer.writerow(["file", "line", "column", "reason"])
        for r in rejects:
            writer.writerow([r.file, r.line, r.column, r.reason])

