"""Statutory clock: deadlines in calendar days, working days or hours under a named policy.

A policy (``cases/policies/<name>.yaml``) names its periods and its timezone. Calendar-day
periods follow the Chinese rule for legal periods: the start day is not counted, the deadline
is the end of the last day, and with ``roll_forward_off_days`` a last day that is a weekend or
public holiday moves to the end of the first working day after it. Working days come from
``chinese_calendar`` (public holidays and make-up working days), overridden by the policy's
``extra_holidays`` / ``extra_workdays``; outside the years either covers, Monday to Friday are
working days and the result is provisional (``HolidayCalendar.covers``).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
import yaml

logger = logging.getLogger(__name__)

POLICY_DIR = Path(__file__).resolve().parent / "policies"
DEFAULT_TIMEZONE = "Asia/Shanghai"
UNITS = ("calendar_days", "working_days", "hours")
GENERAL_DISPATCH_CLASS = "general"

_POLICY_KEYS = {
    "name",
    "timezone",
    "roll_forward_off_days",
    "periods",
    "dispatch_hours",
    "category_classes",
    "extra_holidays",
    "extra_workdays",
}
_BARE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_EXTRA_HOLIDAY_NAME = "节假日"

# Years already warned about, process-wide, so a long-running worker logs each uncovered year
# once however many calendars it builds.
_WARNED_YEARS: set[int] = set()
_WARNED_LOCK = threading.Lock()


class PolicyError(ValueError):
    """A policy file or value that cannot be used to compute deadlines."""


@dataclass(frozen=True)
class Period:
    """A statutory period: ``amount`` units of calendar days, working days or hours."""

    amount: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise PolicyError(f"unknown period unit {self.unit!r}; expected one of {', '.join(UNITS)}")
        # bool is an int subclass; `amount: true` in YAML is a typo, not a period of one.
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise PolicyError(f"period amount must be a positive integer, got {self.amount!r}")


@dataclass(frozen=True)
class Policy:
    """A named set of statutory periods with its timezone and holiday overrides."""

    name: str
    timezone: str
    roll_forward_off_days: bool
    periods: dict[str, Period]
    dispatch_hours: dict[str, int]
    category_classes: dict[str, str]
    extra_holidays: frozenset[date]
    extra_workdays: frozenset[date]


def load_policy(name_or_path: str = "xinfang") -> Policy:
    """Load a policy by bare name from ``cases/policies`` or from a YAML file path."""
    text = str(name_or_path)
    if _BARE_NAME.match(text):
        path = POLICY_DIR / f"{text}.yaml"
        if not path.is_file():
            shipped = sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))
            raise PolicyError(f"unknown policy {text!r}; shipped policies: {', '.join(shipped)}")
    else:
        path = Path(text)
        if not path.is_file():
            raise PolicyError(f"policy file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:
        # PyYAML raises a bare ValueError for an impossible unquoted date such as 2027-13-01.
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return _policy_from_mapping(raw)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from exc


def _policy_from_mapping(raw: Any) -> Policy:
    if not isinstance(raw, Mapping):
        raise PolicyError("a policy must be a mapping")
    unknown = set(raw) - _POLICY_KEYS
    if unknown:
        # Refused rather than ignored: a misspelt key would silently change legal deadlines.
        raise PolicyError(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    for key in ("name", "periods"):
        if key not in raw:
            raise PolicyError(f"missing field {key!r}")

    name = raw["name"]
    if not isinstance(name, str) or not name.strip():
        raise PolicyError("'name' must be a non-empty string")

    timezone = raw.get("timezone", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PolicyError(f"unknown timezone {timezone!r}") from exc

    roll = raw.get("roll_forward_off_days", False)
    if not isinstance(roll, bool):
        raise PolicyError("'roll_forward_off_days' must be true or false")

    periods_raw = raw["periods"]
    if not isinstance(periods_raw, Mapping) or not periods_raw:
        raise PolicyError("'periods' must be a non-empty mapping of name to {amount, unit}")
    periods: dict[str, Period] = {}
    for kind, spec in periods_raw.items():
        if not isinstance(spec, Mapping) or set(spec) != {"amount", "unit"}:
            raise PolicyError(f"period {kind!r} must have exactly 'amount' and 'unit'")
        try:
            periods[str(kind)] = Period(amount=spec["amount"], unit=spec["unit"])
        except PolicyError as exc:
            raise PolicyError(f"period {kind!r}: {exc}") from exc

    dispatch_raw = raw.get("dispatch_hours") or {}
    if not isinstance(dispatch_raw, Mapping):
        raise PolicyError("'dispatch_hours' must be a mapping of class to hours")
    dispatch_hours: dict[str, int] = {}
    for cls, hours in dispatch_raw.items():
        if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
            raise PolicyError(f"dispatch_hours[{cls!r}] must be a positive integer")
        dispatch_hours[str(cls)] = hours
    if dispatch_hours and GENERAL_DISPATCH_CLASS not in dispatch_hours:
        raise PolicyError(f"dispatch_hours must define {GENERAL_DISPATCH_CLASS!r} for unmapped categories")

    classes_raw = raw.get("category_classes") or {}
    if not isinstance(classes_raw, Mapping):
        raise PolicyError("'category_classes' must be a mapping of category to class")
    category_classes: dict[str, str] = {}
    for category, cls in classes_raw.items():
        if cls not in dispatch_hours:
            raise PolicyError(f"category {category!r} maps to undefined dispatch class {cls!r}")
        category_classes[str(category).strip()] = cls

    extra_holidays = _dates(raw.get("extra_holidays"), "extra_holidays")
    extra_workdays = _dates(raw.get("extra_workdays"), "extra_workdays")
    both = extra_holidays & extra_workdays
    if both:
        raise PolicyError(f"dates both extra holiday and extra workday: {', '.join(map(str, sorted(both)))}")

    return Policy(
        name=name.strip(),
        timezone=str(timezone),
        roll_forward_off_days=roll,
        periods=periods,
        dispatch_hours=dispatch_hours,
        category_classes=category_classes,
        extra_holidays=extra_holidays,
        extra_workdays=extra_workdays,
    )


def _dates(values: Any, field: str) -> frozenset[date]:
    if values is None:
        return frozenset()
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise PolicyError(f"{field!r} must be a list of dates")
    try:
        return frozenset(_as_date(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{field!r}: {exc}") from exc


def _as_date(value: Any) -> date:
    # datetime is a date subclass but would never compare equal to a calendar day.
    if isinstance(value, datetime):
        raise TypeError(f"expected a date, got the datetime {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise TypeError(f"expected a date, got {value!r}")


@functools.cache
def _package_covers_year(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class HolidayCalendar:
    """Working days in mainland China: public holidays and make-up days, with overrides."""

    def __init__(self, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()) -> None:
        self.extra_holidays = frozenset(_as_date(d) for d in extra_holidays)
        self.extra_workdays = frozenset(_as_date(d) for d in extra_workdays)
        both = self.extra_holidays & self.extra_workdays
        if both:
            listed = ", ".join(map(str, sorted(both)))
            raise ValueError(f"dates both extra holiday and extra workday: {listed}")
        self._extra_years = frozenset(d.year for d in self.extra_holidays | self.extra_workdays)

    def is_workday(self, d: date) -> bool:
        """Return whether ``d`` is a working day."""
        d = _as_date(d)
        if d in self.extra_workdays:
            return True
        if d in self.extra_holidays:
            return False
        if _package_covers_year(d.year):
            return chinese_calendar.is_workday(d)
        if d.year not in self._extra_years:
            _warn_uncovered(d.year)
        return d.weekday() < 5

    def covers(self, d: date) -> bool:
        """Return whether the official holiday schedule for ``d``'s year is known."""
        d = _as_date(d)
        # An admin who adds extras for a year is taken to have entered that year's schedule.
        return _package_covers_year(d.year) or d.year in self._extra_years

    def holiday_name(self, d: date) -> str | None:
        """Return the public holiday's Chinese name if ``d`` is a day off for one, else None."""
        d = _as_date(d)
        if d in self.extra_workdays:
            return None
        if d in self.extra_holidays:
            return _EXTRA_HOLIDAY_NAME
        if not _package_covers_year(d.year):
            return None
        on_holiday, name = chinese_calendar.get_holiday_detail(d)
        if not on_holiday or name is None:
            return None
        return _chinese_holiday_name(name)


def _chinese_holiday_name(english: str) -> str:
    try:
        holiday = chinese_calendar.Holiday(english)
    except ValueError:
        return english
    return getattr(holiday, "chinese", english)


def _warn_uncovered(year: int) -> None:
    with _WARNED_LOCK:
        if year in _WARNED_YEARS:
            return
        _WARNED_YEARS.add(year)
    logger.warning(
        "no official holiday schedule for %d: counting Monday to Friday as working days; "
        "add the year's extra_holidays / extra_workdays to the policy or update chinesecalendar",
        year,
    )


def _require_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


class Clock:
    """Compute statutory deadlines under one policy and holiday calendar."""

    def __init__(self, policy: Policy, calendar: HolidayCalendar | None = None) -> None:
        self.policy = policy
        self.tz = ZoneInfo(policy.timezone)
        # An explicit calendar replaces the policy's extras rather than merging with them.
        if calendar is None:
            calendar = HolidayCalendar(policy.extra_holidays, policy.extra_workdays)
        self.calendar = calendar

    def add(self, start: datetime, period: Period) -> datetime:
        """Return the deadline ``period`` after ``start``, in the policy timezone."""
        _require_aware(start, "start")
        if period.unit == "hours":
            # Elapsed time, so done in UTC: a wall-clock sum would drift across a DST change.
            return (start.astimezone(UTC) + timedelta(hours=period.amount)).astimezone(self.tz)
        # Days are counted on the local calendar: 20:00 UTC may already be the next day here.
        day = start.astimezone(self.tz).date()
        if period.unit == "calendar_days":
            day += timedelta(days=period.amount)
            if self.policy.roll_forward_off_days:
                while not self.calendar.is_workday(day):
                    day += timedelta(days=1)
        else:
            day = self._nth_workday_after(day, period.amount)
        return self._end_of(day)

    def deadline(self, kind: str, start: datetime) -> datetime:
        """Return the deadline of the policy's period ``kind`` starting at ``start``."""
        return self.add(start, self.period(kind))

    def period(self, kind: str) -> Period:
        """Return the policy's period ``kind``."""
        try:
            return self.policy.periods[kind]
        except KeyError:
            known = ", ".join(sorted(self.policy.periods))
            raise ValueError(f"policy {self.policy.name!r} has no period {kind!r}; known: {known}") from None

    def extend(self, due: datetime, days: int) -> datetime:
        """Return ``due`` extended by ``days`` in the unit of the policy's ``extension_max``."""
        limit = self.period("extension_max")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= limit.amount:
            raise ValueError(f"an extension must be 1 to {limit.amount} {limit.unit}, got {days!r}")
        return self.add(due, Period(amount=days, unit=limit.unit))

    def dispatch_class(self, category: str | None) -> str:
        """Return the dispatch class of ``category``; unmapped or missing is general."""
        if not category:
            return GENERAL_DISPATCH_CLASS
        classes = self.policy.category_classes
        # A path such as "城乡建设/供水" is matched from its most specific segment up.
        for segment in reversed([s.strip() for s in category.split("/")]):
            if segment in classes:
                return classes[segment]
        return GENERAL_DISPATCH_CLASS

    def dispatch_deadline(
        self,
        start: datetime,
        *,
        category: str | None = None,
        dispatch_class: str | None = None,
    ) -> datetime:
        """Return when a petition received at ``start`` must be dispatched to a unit."""
        hours_by_class = self.policy.dispatch_hours
        if not hours_by_class:
            raise ValueError(f"policy {self.policy.name!r} defines no dispatch periods")
        # An explicit class is an operator's judgement and wins over the category's default.
        cls = dispatch_class if dispatch_class is not None else self.dispatch_class(category)
        if cls not in hours_by_class:
            known = ", ".join(sorted(hours_by_class))
            raise ValueError(f"unknown dispatch class {cls!r}; known: {known}")
        return self.add(start, Period(amount=hours_by_class[cls], unit="hours"))

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Count working days after ``start``'s local date up to ``end``'s; negative if end is earlier."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        first = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        sign = 1
        if last < first:
            first, last, sign = last, first, -1
        count = 0
        day = first + timedelta(days=1)
        while day <= last:
            count += self.calendar.is_workday(day)
            day += timedelta(days=1)
        return sign * count

    def is_provisional(self, start: datetime, due: datetime) -> bool:
        """Return whether any year from ``start`` to ``due`` lacks an official holiday schedule."""
        _require_aware(start, "start")
        _require_aware(due, "due")
        years = sorted({start.astimezone(self.tz).year, due.astimezone(self.tz).year})
        return any(not self.calendar.covers(date(y, 1, 1)) for y in range(years[0], years[-1] + 1))

    def _nth_workday_after(self, day: date, n: int) -> date:
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if self.calendar.is_workday(day):
                counted += 1
        return day

    def _end_of(self, day: date) -> datetime:
        return datetime.combine(day, time.max, tzinfo=self.tz)


@functools.cache
def default_clock() -> Clock:
    """Return the shared clock for the default 信访 policy."""
    return Clock(load_policy("xinfang"))
