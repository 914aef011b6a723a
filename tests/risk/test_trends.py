"""Trends: dense local-day / ISO-week counts, forecasts with intervals, EARS C2 and CUSUM on known series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from risk import trends
from risk.trends import Series, counts, cusum, ears_c2, forecast
from tests.cases.helpers import register


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_counts_use_local_days_and_fill_gaps_with_zeros():
    rows = [
        (_utc(2024, 3, 1, 15, 59), "城乡建设"),   # 23:59 in Shanghai: 1 March
        (_utc(2024, 3, 1, 16, 1), "城乡建设"),    # 00:01 in Shanghai: 2 March
        (_utc(2024, 3, 4, 2, 0), "环境保护"),
        (_utc(2024, 3, 4, 3, 0), None),
    ]
    total = counts(rows, by=None, freq="D", start=date(2024, 2, 29), end=date(2024, 3, 5))
    assert list(total) == [None]
    assert total[None].periods[0] == date(2024, 2, 29) and len(total[None]) == 6
    assert total[None].values.tolist() == [0, 1, 1, 0, 2, 0]
    per = counts(rows, by="category", freq="D", start=date(2024, 3, 1), end=date(2024, 3, 4))
    assert per["城乡建设"].values.tolist() == [1, 1, 0, 0]
    assert per["环境保护"].values.tolist() == [0, 0, 0, 1]
    assert per[None].values.tolist() == [0, 0, 0, 1]


def test_weekly_counts_are_iso_weeks_named_by_monday():
    rows = [(_utc(2024, 3, 3, 15, 0), "a"),   # Sunday 23:00 local: week of Monday 26 Feb
            (_utc(2024, 3, 3, 17, 0), "a"),   # Monday 01:00 local: week of 4 March
            (_utc(2024, 3, 20, 1, 0), "a")]
    weekly = counts(rows, by=None, freq="W")[None]
    assert weekly.periods == (date(2024, 2, 26), date(2024, 3, 4), date(2024, 3, 11), date(2024, 3, 18))
    assert weekly.values.tolist() == [1, 1, 0, 1]
    assert weekly.to_dict()["periods"][0] == "2024-02-26"
    with pytest.raises(ValueError):
        counts(rows, freq="M")
    with pytest.raises(ValueError):
        counts([(datetime(2024, 3, 1), None)])  # naive


def _background(seed: int, n: int = 120, lam: float = 10.0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(lam, n).astype(float)


def test_ears_c2_alarms_on_the_spike_and_rarely_on_background():
    y = _background(7)
    y[100] += 25
    alarms = ears_c2(y)
    days = {a.index for a in alarms}
    assert 100 in days
    spike = next(a for a in alarms if a.index == 100)
    assert spike.statistic > 3 and spike.value == y[100]
    assert abs(spike.baseline_mean - y[91:98].mean()) < 1e-9  # days t-9 … t-3
    assert len(days - {100}) <= 0.05 * len(y)
    # No statistic before a full baseline.
    assert min(days) >= 9


def test_ears_c2_sd_floor_on_a_silent_baseline():
    y = np.zeros(20)
    y[15] = 1
    y[18] = 2
    alarms = ears_c2(y)
    assert [a.index for a in alarms] == [18]
    assert alarms[0].statistic == pytest.approx((2 - 1 / 7) / max(np.std(y[9:16], ddof=1), 0.5))
    assert ears_c2(y, min_count=3) == []
    assert ears_c2(np.zeros(40)) == [] and ears_c2([3, 4]) == []


def test_cusum_alarms_on_the_spike_and_rarely_on_background():
    y = _background(11)
    y[90:93] += 12  # a three-day rise
    alarms = cusum(y, k=0.5, h=4)
    days = {a.index for a in alarms}
    assert days & {90, 91, 92}
    assert len(days - {90, 91, 92, 93}) <= 0.05 * len(y)
    assert cusum(np.zeros(60)) == []


def test_alarms_carry_the_period_of_a_series():
    start = date(2024, 1, 1)
    y = _background(3, n=40)
    y[35] += 30
    series = Series("D", tuple(start + timedelta(days=i) for i in range(40)), y)
    alarm = next(a for a in ears_c2(series) if a.index == 35)
    assert alarm.period == date(2024, 2, 5)


def _coverage(fc, actual, level) -> float:
    return float(np.mean((actual >= fc.lower[level] - 1e-9) & (actual <= fc.upper[level] + 1e-9)))


def test_forecast_intervals_cover_held_out_days_of_a_stationary_series():
    rng = np.random.default_rng(5)
    weekday = np.array([12, 11, 11, 10, 12, 6, 5], dtype=float)
    y = rng.poisson(np.tile(weekday, 24)).astype(float)  # 168 days
    start = date(2024, 1, 1)
    history = Series("D", tuple(start + timedelta(days=i) for i in range(140)), y[:140])
    fc = forecast(history, levels=(0.8, 0.95))
    assert fc.method == "ets_seasonal" and len(fc.mean) == 28
    assert fc.periods[0] == start + timedelta(days=140) and fc.periods[-1] == start + timedelta(days=167)
    held_out = y[140:]
    assert _coverage(fc, held_out, 0.8) >= 0.65
    assert _coverage(fc, held_out, 0.95) >= 0.85
    assert np.all(fc.lower[0.95] <= fc.lower[0.8]) and np.all(fc.upper[0.8] <= fc.upper[0.95])
    # The weekly pattern carries into the forecast: weekends lower than weekdays.
    assert fc.mean[5] < fc.mean[0] - 2
    assert set(fc.to_dict()["intervals"]) == {"0.8", "0.95"}


def test_weekly_forecast_uses_simple_exponential_smoothing():
    y = np.random.default_rng(2).poisson(70, 30).astype(float)
    fc = forecast(Series("W", tuple(date(2024, 1, 1) + timedelta(weeks=i) for i in range(30)), y))
    assert fc.method == "ets" and len(fc.mean) == 4
    assert fc.periods[0] == date(2024, 1, 1) + timedelta(weeks=30)
    assert 55 < fc.mean[0] < 85 and np.all(fc.lower[0.8] < fc.mean) and np.all(fc.upper[0.8] > fc.mean)


def test_forecast_is_safe_on_zero_short_and_sparse_series():
    zero = forecast(np.zeros(60), horizon=7)
    assert zero.method == "mean"
    assert np.all(zero.mean == 0) and all(np.all(v == 0) for v in (*zero.lower.values(), *zero.upper.values()))
    short = forecast([3.0, 5.0, 4.0], horizon=5)
    assert short.method == "mean" and np.allclose(short.mean, 4.0)
    assert np.all(short.lower[0.95] >= 0) and np.all(short.upper[0.95] > 4.0)
    empty = forecast([], horizon=3)
    assert empty.method == "mean" and empty.mean.tolist() == [0, 0, 0]
    sparse = np.zeros(50)
    sparse[[4, 20, 33]] = 1
    fc = forecast(sparse)
    assert fc.method in {"ets_seasonal", "ets", "mean"}
    for values in (fc.mean, *fc.lower.values(), *fc.upper.values()):
        assert np.all(np.isfinite(values)) and np.all(values >= 0)


def test_query_counts_reads_petitions_by_category_area_and_channel(db):
    at = _utc(2024, 5, 6, 1, 0)  # Monday 09:00 local
    with db.transaction() as s:
        register(s, received_at=at, category="城乡建设", area_code="430104", channel="walk_in")
        register(s, received_at=at + timedelta(days=1), category="环境保护", area_code="430104001", channel="webchat")
        register(s, received_at=at + timedelta(days=1, hours=2), category="城乡建设", area_code="430111", channel="webchat")
        register(s, received_at=at + timedelta(days=20), category="城乡建设", area_code="430104", channel="webchat")
    with db.session() as s:
        total = trends.query_counts(s, by=None, freq="D", since=date(2024, 5, 5), until=date(2024, 5, 8))
        assert total[None].values.tolist() == [0, 1, 2, 0]
        by_category = trends.query_counts(s, by="category", freq="W", since=date(2024, 5, 6), until=date(2024, 5, 31))
        assert by_category["城乡建设"].values.tolist() == [2, 0, 1, 0]  # 26 May is a Sunday
        assert by_category["环境保护"].values.tolist() == [1, 0, 0, 0]
        by_area = trends.query_counts(s, by="area", freq="D", since=date(2024, 5, 6), until=date(2024, 5, 7))
        assert by_area["430104"].values.tolist() == [1, 1]   # the street counts towards its district
        assert by_area["430111"].values.tolist() == [0, 1]
        by_channel = trends.query_counts(s, by="channel", freq="D", since=date(2024, 5, 6), until=date(2024, 5, 7))
        assert by_channel["webchat"].values.tolist() == [0, 2] and by_channel["walk_in"].values.tolist() == [1, 0]
        with pytest.raises(ValueError):
            trends.query_counts(s, by="unit", since=date(2024, 5, 6), until=date(2024, 5, 7))
