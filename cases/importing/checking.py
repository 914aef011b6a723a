"""Check raw rows against the reference data and turn them into petition values with their statutory deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from cases import catalog
from cases.enums import TERMINAL, Channel, Status
from cases.importing.keys import row_key
from cases.importing.reading import BadRow
from cases.schemas import id_number_is_valid
from cases.service import COLLECTIVE_HEAD_COUNT, clock
from core.db import Database, utcnow
from core.security import pii
from core.settings import get_settings

TRACKING_NO_PARTS = 3

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
        day = received.astimezone(self.zone).strftime("%Y%m%d")
        return Row(line, row_key(self.cipher, r), tracking_no, day, values, unit_id, person, reply, satisfied)

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
