"""Statutory clock against the official 2025/2026 holiday schedules, checked date by date.

Schedules used (国务院办公厅 notices, as chinesecalendar 1.11.0 records them):
2025 春节 Jan 28 – Feb 4 off, Jan 26 (Sun) and Feb 8 (Sat) worked; 劳动节 May 1–5 off;
2025 国庆/中秋 Oct 1–8 off, Sep 28 (Sun) and Oct 11 (Sat) worked;
2026 春节 Feb 15–23 off, Feb 14 (Sat) and Feb 28 (Sat) worked.
"""

import dataclasses
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases import clock as clock_module
from cases.clock import (
    Clock,
    HolidayCalendar,
    Period,
    Policy,
    default_clock,
    load_policy,
)

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, 999999, tzinfo=SH)


@pytest.fixture(scope="module")
def xinfang() -> Clock:
    return Clock(load_policy("xinfang"))


@pytest.fixture(scope="module")
def hotline() -> Clock:
    return Clock(load_policy("hotline12345"))


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(clock_module, "_WARNED_YEARS", set())


# Calendar days (信访): start day not counted, end of the Nth day, off days roll forward.


def test_calendar_days_plain(xinfang):
    # Mon 2025-03-03 + 15 = Tue 2025-03-18, a working day.
    assert xinfang.deadline("accept", at(2025, 3, 3)) == end_of(2025, 3, 18)


def test_start_time_of_day_does_not_matter(xinfang):
    assert xinfang.deadline("accept", at(2025, 3, 3, 0, 0)) == end_of(2025, 3, 18)
    assert xinfang.deadline("accept", at(2025, 3, 3, 23, 59)) == end_of(2025, 3, 18)


def test_deadline_ending_on_saturday_rolls_to_monday(xinfang):
    # Fri 2025-03-07 + 15 = Sat 2025-03-22 -> Mon 2025-03-24.
    assert xinfang.deadline("accept", at(2025, 3, 7)) == end_of(2025, 3, 24)


def test_deadline_ending_on_sunday_rolls_to_monday(xinfang):
    # 2025-09-27 + 15 = Sun 2025-10-12 (an ordinary Sunday) -> Mon 2025-10-13.
    assert xinfang.deadline("accept", at(2025, 9, 27)) == end_of(2025, 10, 13)


def test_deadline_inside_spring_festival_2025_rolls_past_it(xinfang):
    # 2025-01-14 + 15 = Wed 2025-01-29 (春节) -> Wed 2025-02-05, first working day after.
    assert xinfang.deadline("accept", at(2025, 1, 14)) == end_of(2025, 2, 5)


def test_handle_period_inside_spring_festival_2026_rolls_past_it(xinfang):
    # 2025-12-19 + 60 = Tue 2026-02-17 (春节) -> Tue 2026-02-24.
    assert xinfang.deadline("handle", at(2025, 12, 19)) == end_of(2026, 2, 24)


def test_handle_period_inside_labour_day_2025_rolls_past_it(xinfang):
    # 2025-03-03 + 60 = Fri 2025-05-02 (劳动节 May 1–5) -> Tue 2025-05-06.
    assert xinfang.deadline("handle", at(2025, 3, 3)) == end_of(2025, 5, 6)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        # 2025-01-11 + 15 = Sun 2025-01-26, a 春节 make-up working day.
        (at(2025, 1, 11), end_of(2025, 1, 26)),
        # 2025-01-24 + 15 = Sat 2025-02-08, a 春节 make-up working day.
        (at(2025, 1, 24), end_of(2025, 2, 8)),
        # 2026-01-30 + 15 = Sat 2026-02-14, a 春节 make-up working day.
        (at(2026, 1, 30), end_of(2026, 2, 14)),
    ],
)
def test_deadline_on_make_up_working_weekend_does_not_roll(xinfang, start, due):
    assert xinfang.deadline("accept", start) == due


def test_deadline_inside_national_day_2025_rolls_past_it(xinfang):
    # 2025-09-16 + 15 = Wed 2025-10-01 (国庆, off Oct 1–8) -> Thu 2025-10-09.
    assert xinfang.deadline("accept", at(2025, 9, 16)) == end_of(2025, 10, 9)
    # 2025-09-21 + 15 = Mon 2025-10-06 (中秋 inside the same break) -> Thu 2025-10-09.
    assert xinfang.deadline("accept", at(2025, 9, 21)) == end_of(2025, 10, 9)


def test_national_day_2025_make_up_days_do_not_roll(xinfang):
    # 2025-09-13 + 15 = Sun 2025-09-28, worked.
    assert xinfang.deadline("accept", at(2025, 9, 13)) == end_of(2025, 9, 28)
    # 2025-09-26 + 15 = Sat 2025-10-11, worked.
    assert xinfang.deadline("accept", at(2025, 9, 26)) == end_of(2025, 10, 11)


def test_roll_forward_can_be_turned_off(xinfang):
    policy = dataclasses.replace(xinfang.policy, roll_forward_off_days=False)
    assert Clock(policy).deadline("accept", at(2025, 1, 14)) == end_of(2025, 1, 29)


def test_every_xinfang_period(xinfang):
    start = at(2025, 3, 3)
    # 2025-03-03 + 30 = Wed 2025-04-02, a working day.
    for kind in ("review_request", "review", "reexam_request", "reexam", "supervision_feedback", "feedback"):
        assert xinfang.deadline(kind, start) == end_of(2025, 4, 2), kind


# Working days: the start day is not counted; holidays skipped, make-up days counted.


def test_working_days_across_spring_festival_2025(hotline):
    # After Fri 2025-01-24: Sun 26 (make-up) 1, Mon 27 2, [Jan 28 – Feb 4 off], Feb 5 3, 6 4, 7 5.
    assert hotline.deadline("handle", at(2025, 1, 24, 15)) == end_of(2025, 2, 7)
    # After Wed 2025-02-05: 6 1, 7 2, Sat 8 (make-up) 3, [Sun 9], Mon 10 4, Tue 11 5.
    assert hotline.deadline("handle", at(2025, 2, 5)) == end_of(2025, 2, 11)


def test_working_days_across_spring_festival_2026(xinfang):
    # After Thu 2026-02-12: 13 1, Sat 14 (make-up) 2, [Feb 15–23 off], 24 3, 25 4, 26 5, 27 6,
    # Sat 28 (make-up) 7, [Sun Mar 1], Mar 2 8, Mar 3 9, Mar 4 10.
    assert xinfang.add(at(2026, 2, 12), Period(10, "working_days")) == end_of(2026, 3, 4)


def test_working_days_across_national_day_2025(hotline):
    # After Fri 2025-09-26: [Sat 27], Sun 28 (make-up) 1, 29 2, 30 3, [Oct 1–8 off], 9 4, 10 5.
    assert hotline.deadline("handle", at(2025, 9, 26)) == end_of(2025, 10, 10)
    # After Wed 2025-10-08: 9 1, 10 2, Sat 11 (make-up) 3, [Sun 12], 13 4, 14 5.
    assert hotline.deadline("handle", at(2025, 10, 8)) == end_of(2025, 10, 14)


def test_working_days_period_starting_on_a_holiday(hotline):
    # 12345 accept = 1 working day; from 2025-10-03 (off) the next working day is Thu 2025-10-09.
    assert hotline.deadline("accept", at(2025, 10, 3)) == end_of(2025, 10, 9)


def test_working_days_between(xinfang):
    start, end = at(2025, 1, 24, 15), at(2025, 2, 7, 9)
    assert xinfang.working_days_between(start, end) == 5
    assert xinfang.working_days_between(end, start) == -5
    assert xinfang.working_days_between(start, start + timedelta(hours=1)) == 0
    # Round trip with add: N working days later is N working days between.
    due = xinfang.add(at(2025, 9, 26), Period(5, "working_days"))
    assert xinfang.working_days_between(at(2025, 9, 26), due) == 5


# Hours (12345 dispatch): elapsed time, holidays irrelevant.


@pytest.mark.parametrize(
    ("category", "hours"),
    [
        ("消防", 1),
        ("安全生产", 1),
        ("突发事件", 1),
        ("供水", 2),
        ("燃气", 2),
        ("城乡建设", 24),
        ("环境保护", 24),
        ("其他", 24),
        (None, 24),
        ("城乡建设/供水", 2),
    ],
)
def test_dispatch_by_category(hotline, category, hours):
    start = at(2025, 6, 10, 9, 30)
    assert hotline.dispatch_deadline(start, category=category) == start + timedelta(hours=hours)


def test_dispatch_literal_values(hotline):
    start = at(2025, 6, 10, 9, 30)
    assert hotline.dispatch_deadline(start, category="消防") == at(2025, 6, 10, 10, 30)
    assert hotline.dispatch_deadline(start, category="供电") == at(2025, 6, 10, 11, 30)
    assert hotline.dispatch_deadline(start, category="教育文体") == at(2025, 6, 11, 9, 30)
    # A holiday does not stop the hour count.
    assert hotline.dispatch_deadline(at(2025, 1, 28, 22), category="民政") == at(2025, 1, 29, 22)


def test_dispatch_by_explicit_class(hotline):
    start = at(2025, 6, 10, 9, 30)
    assert hotline.dispatch_deadline(start, dispatch_class="emergency") == at(2025, 6, 10, 10, 30)
    assert hotline.dispatch_deadline(start, dispatch_class="utilities") == at(2025, 6, 10, 11, 30)
    assert hotline.dispatch_deadline(start, dispatch_class="general") == at(2025, 6, 11, 9, 30)
    # The explicit class wins over the category's.
    overridden = hotline.dispatch_deadline(start, category="城乡建设", dispatch_class="emergency")
    assert overridden == at(2025, 6, 10, 10, 30)
    with pytest.raises(ValueError, match="dispatch class"):
        hotline.dispatch_deadline(start, dispatch_class="urgent")


def test_dispatch_needs_a_policy_with_dispatch_hours(xinfang):
    with pytest.raises(ValueError, match="no dispatch"):
        xinfang.dispatch_deadline(at(2025, 6, 10), category="消防")


# Extension.


def test_extension_within_limit(xinfang):
    due = xinfang.deadline("handle", at(2025, 3, 3))
    assert due == end_of(2025, 5, 6)
    # 2025-05-06 + 30 = Thu 2025-06-05, a working day.
    assert xinfang.extend(due, 30) == end_of(2025, 6, 5)
    assert xinfang.extend(due, 1) == end_of(2025, 5, 7)
    # 2025-05-06 + 11 = Sat 2025-05-17 -> Mon 2025-05-19.
    assert xinfang.extend(due, 11) == end_of(2025, 5, 19)


@pytest.mark.parametrize("days", [0, 31, -1])
def test_extension_out_of_range_refused(xinfang, days):
    with pytest.raises(ValueError, match="1 to 30"):
        xinfang.extend(end_of(2025, 5, 6), days)


def test_extension_in_working_days(hotline):
    # 12345 extension_max is 5 working days: from Fri 2025-09-26, 5 working days -> 2025-10-10.
    assert hotline.extend(end_of(2025, 9, 26), 5) == end_of(2025, 10, 10)
    with pytest.raises(ValueError):
        hotline.extend(end_of(2025, 9, 26), 6)


# Timezones.


def test_naive_datetime_refused(xinfang, hotline):
    with pytest.raises(ValueError, match="timezone-aware"):
        xinfang.deadline("accept", datetime(2025, 3, 3, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        hotline.dispatch_deadline(datetime(2025, 3, 3, 10), category="消防")
    with pytest.raises(ValueError, match="timezone-aware"):
        xinfang.working_days_between(at(2025, 3, 3), datetime(2025, 3, 4))


def test_utc_input_counts_the_local_date(xinfang, hotline):
    received = datetime(2025, 1, 27, 20, 0, tzinfo=UTC)  # 2025-01-28 04:00 in Shanghai
    due = xinfang.deadline("accept", received)
    # Local 2025-01-28 + 15 = Wed 2025-02-12 (counting from the UTC date would give 02-11).
    assert due == end_of(2025, 2, 12)
    assert due.tzinfo == SH
    assert (due.year, due.month, due.day, due.hour) == (2025, 2, 12, 23)
    dispatched = hotline.dispatch_deadline(received, category="消防")
    assert dispatched.tzinfo == SH
    assert (dispatched.month, dispatched.day, dispatched.hour, dispatched.minute) == (1, 28, 5, 0)


# Holiday calendar: overrides and years beyond the package.


def test_holiday_names():
    cal = HolidayCalendar()
    assert cal.holiday_name(date(2025, 1, 29)) == "春节"
    assert cal.holiday_name(date(2025, 10, 6)) == "中秋"
    assert cal.holiday_name(date(2025, 10, 1)) == "国庆节"
    assert cal.holiday_name(date(2025, 1, 26)) is None  # make-up working Sunday
    assert cal.holiday_name(date(2025, 1, 25)) is None  # ordinary Saturday
    assert cal.holiday_name(date(2025, 3, 3)) is None


def test_extra_holidays_and_workdays_override_the_package():
    cal = HolidayCalendar(extra_holidays=[date(2025, 3, 3)], extra_workdays=[date(2025, 3, 8)])
    assert not cal.is_workday(date(2025, 3, 3))
    assert cal.holiday_name(date(2025, 3, 3)) == "节假日"
    assert cal.is_workday(date(2025, 3, 8))  # a Saturday
    policy = load_policy("xinfang")
    # 2025-02-16 + 15 = Mon 2025-03-03, now a holiday -> Tue 2025-03-04.
    assert Clock(policy, cal).deadline("accept", at(2025, 2, 16)) == end_of(2025, 3, 4)
    # The same override from the policy itself.
    with_extras = dataclasses.replace(policy, extra_holidays=frozenset({date(2025, 3, 3)}))
    assert Clock(with_extras).deadline("accept", at(2025, 2, 16)) == end_of(2025, 3, 4)
    # 2025-02-21 + 15 = Sat 2025-03-08, now worked: no roll.
    assert Clock(policy, cal).deadline("accept", at(2025, 2, 21)) == end_of(2025, 3, 8)
    with pytest.raises(ValueError):
        HolidayCalendar(extra_holidays=[date(2025, 3, 3)], extra_workdays=[date(2025, 3, 3)])


def test_year_beyond_package_falls_back_to_weekends(xinfang, caplog, fresh_warnings):
    cal = HolidayCalendar()
    assert cal.covers(date(2026, 12, 31))
    assert not cal.covers(date(2027, 1, 4))
    with caplog.at_level(logging.WARNING, logger="cases.clock"):
        assert cal.is_workday(date(2027, 1, 1))  # a Friday; the real 元旦 is unknown here
        assert not cal.is_workday(date(2027, 1, 2))  # Saturday
        assert cal.is_workday(date(2027, 1, 4))
        HolidayCalendar().is_workday(date(2027, 5, 3))
    warnings = [r for r in caplog.records if r.name == "cases.clock" and "2027" in r.getMessage()]
    assert len(warnings) == 1
    # 2026-12-25 + 15 = Sat 2027-01-09 -> Mon 2027-01-11, provisional.
    due = xinfang.deadline("accept", at(2026, 12, 25))
    assert due == end_of(2027, 1, 11)
    assert xinfang.is_provisional(at(2026, 12, 25), due)
    assert not xinfang.is_provisional(at(2026, 3, 2), xinfang.deadline("accept", at(2026, 3, 2)))


def test_extras_cover_a_year_beyond_the_package(caplog, fresh_warnings):
    cal = HolidayCalendar(extra_holidays=[date(2027, 1, 1)], extra_workdays=[date(2027, 2, 6)])
    assert cal.covers(date(2027, 7, 1))
    with caplog.at_level(logging.WARNING, logger="cases.clock"):
        assert not cal.is_workday(date(2027, 1, 1))
        assert cal.is_workday(date(2027, 2, 6))
        assert not cal.is_workday(date(2027, 2, 7))
    assert not [r for r in caplog.records if r.name == "cases.clock"]


# Policies.


def test_load_shipped_xinfang():
    policy = load_policy()
    assert isinstance(policy, Policy)
    assert policy.name == "xinfang"
    assert policy.timezone == "Asia/Shanghai"
    assert policy.roll_forward_off_days is True
    expected = {
        "accept": 15,
        "handle": 60,
        "extension_max": 30,
        "review_request": 30,
        "review": 30,
        "reexam_request": 30,
        "reexam": 30,
        "supervision_feedback": 30,
        "feedback": 30,
    }
    assert policy.periods == {k: Period(v, "calendar_days") for k, v in expected.items()}
    assert policy.dispatch_hours == {}
    assert policy.extra_holidays == frozenset()


def test_load_shipped_hotline_by_name_and_by_path():
    policy = load_policy("hotline12345")
    assert policy.dispatch_hours == {"emergency": 1, "utilities": 2, "general": 24}
    assert policy.category_classes["供暖"] == "utilities"
    assert policy.category_classes["突发事件"] == "emergency"
    assert policy.periods["handle"] == Period(5, "working_days")
    assert load_policy(str(clock_module.POLICY_DIR / "hotline12345.yaml")) == policy


def test_unknown_period_kind(xinfang, hotline):
    with pytest.raises(ValueError, match="no period 'answer'"):
        xinfang.deadline("answer", at(2025, 3, 3))
    with pytest.raises(ValueError, match="no period 'review'"):
        hotline.deadline("review", at(2025, 3, 3))


def test_period_validation():
    for amount, unit in [(0, "hours"), (-1, "calendar_days"), (True, "hours"), (3, "weeks")]:
        with pytest.raises(ValueError):
            Period(amount, unit)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nperiods:\n  accept: {amount: 2, unit: weeks}\n", "unknown period unit"),
        ("name: x\n", "missing field 'periods'"),
        ("periods:\n  accept: {amount: 2, unit: hours}\n", "missing field 'name'"),
        ("name: x\nperiods:\n  accept: {amount: 2}\n", "'amount' and 'unit'"),
        ("name: x\nperiods:\n  accept: {amount: 0, unit: hours}\n", "positive"),
        ("name: x\ntimezone: Mars/Olympus\nperiods:\n  accept: {amount: 2, unit: hours}\n", "timezone"),
        ("name: x\nroll_forward_off_day: true\nperiods:\n  a: {amount: 2, unit: hours}\n", "unknown keys"),
        (
            "name: x\nperiods:\n  a: {amount: 2, unit: hours}\nextra_holidays: ['2027-13-01']\n",
            "extra_holidays",
        ),
        ("name: x\nperiods:\n  a: {amount: 2, unit: hours}\nextra_holidays: [2027-13-01]\n", "YAML"),
        ("name: x\nperiods:\n  a: {amount: 2, unit: hours}\ndispatch_hours: {emergency: 1}\n", "general"),
        ("- just\n- a list\n", "mapping"),
        ("name: x\nperiods: [\n", "YAML"),
    ],
)
def test_bad_policy_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_policy(str(path))


def test_policy_file_with_extras_and_default_timezone(tmp_path):
    path = tmp_path / "local.yaml"
    path.write_text(
        "name: local\nroll_forward_off_days: true\n"
        "periods:\n  accept: {amount: 15, unit: calendar_days}\n"
        "extra_holidays: [2027-01-01, '2027-02-05']\nextra_workdays: [2027-02-06]\n",
        encoding="utf-8",
    )
    policy = load_policy(str(path))
    assert policy.timezone == "Asia/Shanghai"
    assert policy.extra_holidays == frozenset({date(2027, 1, 1), date(2027, 2, 5)})
    clock = Clock(policy)
    assert clock.calendar.covers(date(2027, 3, 1))
    # 2026-12-17 + 15 = Fri 2027-01-01, an extra holiday -> Mon 2027-01-04.
    assert clock.deadline("accept", at(2026, 12, 17)) == end_of(2027, 1, 4)


def test_unknown_policy_name_and_missing_path(tmp_path):
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        load_policy("nope")
    with pytest.raises(ValueError, match="not found"):
        load_policy(str(tmp_path / "missing.yaml"))


def test_default_clock_is_cached_xinfang():
    assert default_clock() is default_clock()
    assert default_clock().policy.name == "xinfang"
