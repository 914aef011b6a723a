"""Figures for the risk dashboard: hot topics of the week and a four-week forecast drawn as inline SVG."""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.models import Petition
from core.db import utcnow
from core.settings import get_settings
from risk import topics, trends


def forecast_svg(history: trends.Series, fc: trends.Forecast, *, title: str, width: int = 640, height: int = 220) -> Markup:
    """Draw weekly history as bars and the forecast as a line with its 80 % and 95 % bands."""
    hist = [float(v) for v in history.values][-16:]
    periods = list(history.periods)[-16:] + list(fc.periods)
    mean = [float(v) for v in fc.mean]
    upper95 = [float(v) for v in fc.upper.get(0.95, fc.mean)]
    lower95 = [float(v) for v in fc.lower.get(0.95, fc.mean)]
    upper80 = [float(v) for v in fc.upper.get(0.8, fc.mean)]
    lower80 = [float(v) for v in fc.lower.get(0.8, fc.mean)]
    top = max(hist + upper95 + [1.0]) * 1.1
    n = len(hist) + len(mean)
    left, bottom, plot_h = 36, height - 24, height - 40
    step = (width - left - 10) / max(n, 1)

    def y(v: float) -> float:
        return bottom - v / top * plot_h

    def x(i: int) -> float:
        return left + step * (i + 0.5)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#999"/>']
    for i, v in enumerate(hist):
        parts.append(f'<rect class="bar" x="{x(i) - step * 0.35:.1f}" y="{y(v):.1f}" width="{step * 0.7:.1f}" '
                     f'height="{bottom - y(v):.1f}"><title>{periods[i]:%m-%d}: {v:g}</title></rect>')
    offset = len(hist)
    for lower, upper, fill in ((lower95, upper95, "#fde0c5"), (lower80, upper80, "#f9b98a")):
        pts = [f"{x(offset + i):.1f},{y(u):.1f}" for i, u in enumerate(upper)]
        pts += [f"{x(offset + i):.1f},{y(lo):.1f}" for i, lo in reversed(list(enumerate(lower)))]
        parts.append(f'<polygon points="{" ".join(pts)}" fill="{fill}" stroke="none"/>')
    line = " ".join(f"{x(offset + i):.1f},{y(v):.1f}" for i, v in enumerate(mean))
    parts.append(f'<polyline points="{line}" fill="none" stroke="#c25e00" stroke-width="2" data-testid="forecast-line"/>')
    for i, v in enumerate(mean):
        parts.append(f'<circle cx="{x(offset + i):.1f}" cy="{y(v):.1f}" r="3" fill="#c25e00"><title>'
                     f'{fc.periods[i]:%m-%d}: {v:.0f} ({lower95[i]:.0f}–{upper95[i]:.0f})</title></circle>')
    for i in range(0, n, 4):
        parts.append(f'<text x="{x(i):.1f}" y="{height - 6}" text-anchor="middle">{periods[i]:%m-%d}</text>')
    parts.append(f'<text x="4" y="{y(top / 1.1):.1f}">{top / 1.1:.0f}</text></svg>')
    return Markup("".join(parts))


# Hot topics cost seconds at a million petitions (segmenting a fortnight of texts). The dashboard reuses them
# for up to the settings' risk_statistics_max_age_s, and after that as long as the fortnight's petitions and the
# hour are the same; the page says as of when.
# (database URL, language) → (computed or last confirmed at, fingerprint, statistics)
_CACHE: dict[tuple[str, str], tuple[datetime, tuple, dict]] = {}


def dashboard_statistics(session: Session, *, lang: str = "zh") -> dict:
    """Return the week's hot topics and the weekly forecast for the dashboard, and when they were computed."""
    now = utcnow()
    key = (str(session.get_bind().url), lang)
    cached = _CACHE.get(key)
    if cached is not None and timedelta(0) <= now - cached[0] < timedelta(seconds=get_settings().risk_statistics_max_age_s):
        return {**cached[2], "as_of": cached[0]}
    fingerprint = (now.strftime("%Y%m%d%H"), *session.execute(
        select(func.count(), func.max(Petition.id), func.max(Petition.created_at))
        .where(Petition.received_at >= now - timedelta(days=14))).one())
    if cached is not None and cached[1] == fingerprint:
        statistics = cached[2]  # nothing new this hour: still true now
    else:
        statistics = _statistics(session, lang, now)
        if len(_CACHE) >= 8:
            _CACHE.clear()
    _CACHE[key] = (now, fingerprint, statistics)
    return {**statistics, "as_of": now}


def _statistics(session: Session, lang: str, now) -> dict:
    hot = topics.query_hot_topics(session, days=7, now=now, k=5)
    weekly = trends.query_counts(session, by=None, freq="W", since=now - timedelta(weeks=52), until=now)
    series = next(iter(weekly.values()), None)
    forecast = None
    if series is not None and len(series) >= 2:
        fc = trends.forecast(series, horizon=4)
        title = "每周信访量与未来四周预测（80% / 95% 区间）" if lang == "zh" else \
            "Petitions per week and the next four weeks (80 % / 95 % intervals)"
        expected = " / ".join(f"{v:.0f}" for v in fc.mean)
        note = f"方法：{fc.method}；预测每周 {expected} 件" if lang == "zh" else \
            f"method: {fc.method}; expected {expected} a week"
        forecast = {"svg": forecast_svg(series, fc, title=title), "note": note, "method": fc.method}
    return {"topics": [t for t in hot if t.size >= 2] or None, "forecast": forecast}
