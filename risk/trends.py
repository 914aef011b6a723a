"""Trends of intake: dense counts per day or ISO week, forecasts with intervals, and surge detection (EARS C2, CUSUM).

The core functions are pure (no database): ``counts`` turns (received_at, key) rows into zero-filled series,
``forecast`` projects a series with statsmodels' exponential smoothing, ``ears_c2`` and ``cusum`` return the
periods that alarm. ``query_counts`` is the one function that reads petitions.

Days are local days of the deployment timezone (``Settings.timezone``); a week is an ISO week, named by its Monday.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.models import Area, Category, Petition
from core.settings import get_settings

Freq = Literal["D", "W"]
BY = (None, "category", "area", "channel")
SEASON = 7  # a daily series repeats weekly
# Normal quantiles for the usual two-sided levels; others go through statistics.NormalDist.
_Z = {0.8: 1.2815515655446004, 0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}


@dataclass(frozen=True)
class Series:
    """Counts per period: ``periods[i]`` is a local day, or the Monday of an ISO week, and ``values[i]`` its count."""

    freq: str
    periods: tuple[date, ...]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def to_dict(self) -> dict:
        """Return the series as plain JSON-ready data."""
        return {"freq": self.freq, "periods": [p.isoformat() for p in self.periods],
                "values": [int(v) if float(v).is_integer() else float(v) for v in self.values]}


@dataclass(frozen=True)
class Forecast:
    """A forecast of the next periods: point values and, per level, lower and upper bounds (never negative)."""

    method: str
    freq: str
    periods: tuple[date, ...]
    mean: np.ndarray
    lower: dict[float, np.ndarray] = field(default_factory=dict)
    upper: dict[float, np.ndarray] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the forecast as plain JSON-ready data."""
        return {"method": self.method, "freq": self.freq, "periods": [p.isoformat() for p in self.periods],
                "mean": [round(float(v), 3) for v in self.mean],
                "intervals": {f"{level:g}": {"lower": [round(float(v), 3) for v in self.lower[level]],
                                             "upper": [round(float(v), 3) for v in self.upper[level]]}
                              for level in self.lower}}


@dataclass(frozen=True)
class Alarm:
    """A period whose count is unusually high: its index, its period (when known), the count and the statistic."""

    index: int
    period: date | None
    value: float
    statistic: float
    baseline_mean: float
    baseline_sd: float


def local_zone() -> ZoneInfo:
    """Return the deployment timezone."""
    return ZoneInfo(get_settings().timezone)


def local_day(moment: datetime | date, zone: ZoneInfo) -> date:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetimes are not counted; pass a timezone-aware value")
        return moment.astimezone(zone).date()
    return moment


def _period_of(day: date, freq: str) -> date:
    return day - timedelta(days=day.weekday()) if freq == "W" else day


def period_range(start: date, end: date, freq: str) -> tuple[date, ...]:
    """Return the days, or ISO-week Mondays, from the period holding start to the one holding end."""
    if freq not in ("D", "W"):
        raise ValueError(f"freq must be 'D' or 'W', not {freq!r}")
    first, last = _period_of(start, freq), _period_of(end, freq)
    step = 7 if freq == "W" else 1
    n = (last - first).days // step + 1
    return tuple(first + timedelta(days=i * step) for i in range(max(n, 0)))


def counts(rows: Iterable[tuple[datetime, object]], *, by: str | None = None, freq: Freq = "D",
           start: date | datetime | None = None, end: date | datetime | None = None) -> dict[object, Series]:
    """Count rows of (received_at, key) per local day or ISO week, zero-filled from start to end, per key.

    With ``by=None`` every row counts towards the single key ``None``; otherwise per key (a row whose key is
    None stays under None). start and end are inclusive (local days, or aware datetimes); without them the
    series spans the rows' first to last period.
    """
    return weighted_counts(((at, key, 1) for at, key in rows), by=by, freq=freq, start=start, end=end)


def weighted_counts(rows: Iterable[tuple[datetime | date, object, int]], *, by: str | None = None, freq: Freq = "D",
                    start: date | datetime | None = None, end: date | datetime | None = None) -> dict[object, Series]:
    """Count as ``counts`` does, from rows of (received_at or local day, key, how many)."""
    if freq not in ("D", "W"):
        raise ValueError(f"freq must be 'D' or 'W', not {freq!r}")
    zone = local_zone()
    periods_of: dict[object, list[date]] = {}
    weights_of: dict[object, list[int]] = {}
    for received_at, key, n in rows:
        key = key if by is not None else None
        periods_of.setdefault(key, []).append(_period_of(local_day(received_at, zone), freq))
        weights_of.setdefault(key, []).append(n)
    every = [p for ps in periods_of.values() for p in ps]
    first = local_day(start, zone) if start is not None else (min(every) if every else None)
    last = local_day(end, zone) if end is not None else (max(every) if every else None)
    if first is None or last is None:
        return {} if by is not None else {None: Series(freq, (), np.zeros(0, dtype=np.int64))}
    periods = period_range(first, last, freq)
    index = {p: i for i, p in enumerate(periods)}
    out: dict[object, Series] = {}
    for key, ps in periods_of.items():
        kept = [(index[p], n) for p, n in zip(ps, weights_of[key], strict=True) if p in index]
        ids = np.fromiter((i for i, _ in kept), dtype=np.int64, count=len(kept))
        weights = np.fromiter((n for _, n in kept), dtype=np.int64, count=len(kept))
        out[key] = Series(freq, periods, np.bincount(ids, weights=weights, minlength=len(periods)).astype(np.int64))
    if by is None and None not in out:
        out[None] = Series(freq, periods, np.zeros(len(periods), dtype=np.int64))
    return out


def _z(level: float) -> float:
    if level in _Z:
        return _Z[level]
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def _values(series: Series | Sequence[float] | np.ndarray) -> np.ndarray:
    values = series.values if isinstance(series, Series) else series
    return np.asarray(values, dtype=np.float64)


def _future(series: Series | Sequence[float] | np.ndarray, freq: str, horizon: int) -> tuple[date, ...]:
    if not isinstance(series, Series) or not series.periods:
        return ()
    step = 7 if freq == "W" else 1
    return tuple(series.periods[-1] + timedelta(days=step * (i + 1)) for i in range(horizon))


def _mean_forecast(y: np.ndarray, horizon: int, levels: Sequence[float]) -> tuple[np.ndarray, dict, dict]:
    """Return mean ± z·sd·sqrt(1 + 1/n); the sd is at least the Poisson sd sqrt(mean), zero only for an all-zero series."""
    n = len(y)
    mean = float(y.mean()) if n else 0.0
    sd = float(y.std(ddof=1)) if n > 1 else 0.0
    sd = max(sd, math.sqrt(mean))
    spread = sd * math.sqrt(1 + 1 / max(n, 1))
    point = np.full(horizon, mean)
    lower = {lv: np.maximum(point - _z(lv) * spread, 0.0) for lv in levels}
    upper = {lv: point + _z(lv) * spread for lv in levels}
    return point, lower, upper


def _ets_forecast(y: np.ndarray, horizon: int, levels: Sequence[float], seasonal: bool
                  ) -> tuple[np.ndarray, dict, dict]:
    with warnings.catch_warnings():
        # statsmodels 0.14 uses pandas helpers that pandas 3 deprecates; nothing for us to act on.
        warnings.simplefilter("ignore")
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    # A pandas series: statsmodels 0.14 fails to build prediction results from a bare ndarray.
    data = pd.Series(y)
    model = ETSModel(data, error="add", trend=None, seasonal="add" if seasonal else None,
                     seasonal_periods=SEASON if seasonal else None)
    with warnings.catch_warnings():
        # Short or flat series make the optimiser warn about convergence; the fit is still usable.
        warnings.simplefilter("ignore")
        fitted = model.fit(disp=False)
        prediction = fitted.get_prediction(start=len(y), end=len(y) + horizon - 1)
        point = np.asarray(prediction.predicted_mean, dtype=np.float64)
        lower, upper = {}, {}
        for level in levels:
            frame = prediction.summary_frame(alpha=1 - level)
            lower[level] = np.asarray(frame["pi_lower"], dtype=np.float64)
            upper[level] = np.asarray(frame["pi_upper"], dtype=np.float64)
    if not np.all(np.isfinite(point)) or any(not np.all(np.isfinite(v)) for v in (*lower.values(), *upper.values())):
        raise ValueError("non-finite forecast")
    return point, lower, upper


def forecast(series: Series | Sequence[float] | np.ndarray, *, horizon: int | None = None,
             levels: Sequence[float] = (0.8, 0.95), freq: Freq | None = None) -> Forecast:
    """Forecast the next periods (28 days or 4 weeks by default) with prediction intervals at each level.

    Daily series with at least three full weeks: Holt-Winters (statsmodels ETS, additive error and weekly
    seasonality, ``method="ets_seasonal"``). Other series with at least 8 periods: simple exponential smoothing
    (ETS(A,N,N), ``"ets"``). Shorter, all-zero or constant series, or a failed fit: the mean with a normal
    interval whose sd is at least the Poisson sd (``"mean"``). Intervals are the model's analytic prediction
    intervals; every value is clipped at zero.
    """
    freq = freq or (series.freq if isinstance(series, Series) else "D")
    horizon = horizon or (28 if freq == "D" else 4)
    levels = tuple(levels)
    y = _values(series)
    y = np.where(np.isfinite(y), y, 0.0)
    method = "mean"
    if len(y) >= 8 and np.ptp(y) > 0:
        seasonal = freq == "D" and len(y) >= 3 * SEASON
        try:
            point, lower, upper = _ets_forecast(y, horizon, levels, seasonal)
            method = "ets_seasonal" if seasonal else "ets"
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            point, lower, upper = _mean_forecast(y, horizon, levels)
    else:
        point, lower, upper = _mean_forecast(y, horizon, levels)
    point = np.maximum(point, 0.0)
    lower = {lv: np.minimum(np.maximum(v, 0.0), point) for lv, v in lower.items()}
    upper = {lv: np.maximum(v, point) for lv, v in upper.items()}
    return Forecast(method, freq, _future(series, freq, horizon), point, lower, upper)


def _period(series, index: int) -> date | None:
    return series.periods[index] if isinstance(series, Series) and series.periods else None


def c2_statistics(series: Series | Sequence[float] | np.ndarray, *, baseline: int = 7, lag: int = 2,
                  sd_floor: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the EARS C2 statistic of every period (NaN before a full baseline) with the baseline means and sds."""
    y = _values(series)
    n = len(y)
    stat, means, sds = (np.full(n, np.nan) for _ in range(3))
    first = baseline + lag
    if n <= first:
        return stat, means, sds
    windows = np.lib.stride_tricks.sliding_window_view(y, baseline)[: n - first]  # window i = y[i : i+baseline]
    means[first:] = windows.mean(axis=1)
    sds[first:] = windows.std(axis=1, ddof=1) if baseline > 1 else 0.0
    stat[first:] = (y[first:] - means[first:]) / np.maximum(sds[first:], sd_floor)
    return stat, means, sds


def ears_c2(series: Series | Sequence[float] | np.ndarray, *, threshold: float = 3.0, baseline: int = 7, lag: int = 2,
            sd_floor: float = 0.5, min_count: float = 0) -> list[Alarm]:
    """Return the periods where EARS C2 alarms: (x − mean) / max(sd, sd_floor) > threshold.

    The baseline is the ``baseline`` periods ending ``lag`` periods before the current one (days t−9 … t−3 for
    the defaults), so that the first days of a surge do not raise their own baseline. The sd floor (0.5 of a
    count) keeps a silent baseline from dividing by zero: after an all-zero week one case gives C2 = 2 (quiet),
    two cases give 4 (alarm). ``min_count`` silences alarms on smaller counts, for sparse series (one district,
    one category) where two cases after a quiet week are no surge worth a supervisor's time.
    """
    y = _values(series)
    stat, means, sds = c2_statistics(y, baseline=baseline, lag=lag, sd_floor=sd_floor)
    hits = np.flatnonzero((np.nan_to_num(stat, nan=-np.inf) > threshold) & (y >= min_count))
    return [Alarm(int(i), _period(series, int(i)), float(y[i]), float(stat[i]), float(means[i]), float(sds[i]))
            for i in hits]


def cusum(series: Series | Sequence[float] | np.ndarray, *, k: float = 0.5, h: float = 4.0, baseline: int = 28,
          lag: int = 2, min_baseline: int = 7, sd_floor: float = 0.5) -> list[Alarm]:
    """Return the periods where an upper CUSUM of standardised counts passes h; the sum restarts after an alarm.

    Each count is standardised against a rolling baseline (up to ``baseline`` periods ending ``lag`` periods
    before it, at least ``min_baseline``): z = (x − mean) / max(sd, sd_floor); then S = max(0, S + z − k).
    The alarm's statistic is S.
    """
    y = _values(series)
    n = len(y)
    alarms: list[Alarm] = []
    s = 0.0
    csum = np.concatenate([[0.0], np.cumsum(y)])
    csq = np.concatenate([[0.0], np.cumsum(y * y)])
    for t in range(n):
        hi = t - lag  # baseline is y[lo:hi]
        lo = max(0, hi - baseline)
        m = hi - lo
        if m < max(min_baseline, 2):
            continue
        mean = (csum[hi] - csum[lo]) / m
        var = max((csq[hi] - csq[lo] - m * mean * mean) / (m - 1), 0.0)
        sd = math.sqrt(var)
        z = (y[t] - mean) / max(sd, sd_floor)
        s = max(0.0, s + z - k)
        if s > h:
            alarms.append(Alarm(t, _period(series, t), float(y[t]), float(s), float(mean), float(sd)))
            s = 0.0
    return alarms


def top_categories(session: Session) -> dict[int, str]:
    rows = session.execute(select(Category.id, Category.name, Category.parent_id)).all()
    parent = {i: p for i, _, p in rows}
    name = {i: n for i, n, _ in rows}
    top: dict[int, str] = {}
    for i in name:
        j, hops = i, 0
        while parent.get(j) is not None and hops < 10:
            j, hops = parent[j], hops + 1
        top[i] = name[j]
    return top


def districts(session: Session) -> dict[str, str]:
    rows = session.execute(select(Area.code, Area.level, Area.parent_code)).all()
    return {code: (parent if level == "street" and parent else code) for code, level, parent in rows}


def query_counts(session: Session, *, by: str | None = None, freq: Freq = "D", since: date | datetime,
                 until: date | datetime) -> dict[object, Series]:
    """Count petitions received from since to until (local days, inclusive) per day or week, per key.

    by: None (all), "category" (the first-level category's name), "area" (the district's code; a street counts
    towards its district) or "channel".
    """
    if by not in BY:
        raise ValueError(f"by must be one of {BY}, not {by!r}")
    zone = local_zone()
    first, last = local_day(since, zone), local_day(until, zone)
    lo = datetime.combine(first, datetime.min.time(), zone)
    hi = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    key_column = {None: None, "category": Petition.category_id, "area": Petition.area_code,
                  "channel": Petition.channel}[by]
    window = (Petition.received_at >= lo, Petition.received_at < hi)
    if session.get_bind().dialect.name == "postgresql":
        # Counted per local day in the database: a year is hundreds of thousands of rows at a million petitions.
        day = func.date(func.timezone(zone.key, Petition.received_at))
        if key_column is None:
            rows = [(d, None, n) for d, n in session.execute(select(day, func.count()).where(*window).group_by(day))]
        else:
            rows = session.execute(select(day, key_column, func.count()).where(*window).group_by(day, key_column)).all()
    else:
        key_column = Petition.id if key_column is None else key_column
        rows = [(at, key, 1) for at, key in session.execute(select(Petition.received_at, key_column).where(*window))]
    if by == "category":
        top = top_categories(session)
        rows = [(at, top.get(key) if key is not None else None, n) for at, key, n in rows]
    elif by == "area":
        district = districts(session)
        rows = [(at, district.get(key, key) if key is not None else None, n) for at, key, n in rows]
    return weighted_counts(rows, by=by, freq=freq, start=first, end=last)
