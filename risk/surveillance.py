"""Periodic surveillance: surges per category (CUSUM) and unusual space–time clusters per district → alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.models import Area, Petition
from core.db import utcnow
from risk import alerts, scan, trends
from risk.models import RiskAlert

HISTORY_DAYS = 60
# An alarm older than this is history, not news: the task runs hourly, so a day of slack is plenty.
FRESH_DAYS = 1


def do_detect_surges(session: Session, *, now: datetime | None = None) -> list[RiskAlert]:
    """Raise a surge alert for each category (and the total) whose daily count CUSUM alarms on a recent day."""
    now = now or utcnow()
    since = now - timedelta(days=HISTORY_DAYS)
    raised = []
    series = {None: trends.query_counts(session, by=None, freq="D", since=since, until=now)}
    series.update(trends.query_counts(session, by="category", freq="D", since=since, until=now))
    today = trends.local_day(now, trends.local_zone())
    for key, values in series.items():
        if isinstance(values, dict):  # the unkeyed query returns {None: Series}
            values = values.get(None)
        if values is None or not len(values):
            continue
        for alarm in trends.cusum(values):
            if alarm.period is None or (today - alarm.period).days > FRESH_DAYS:
                continue
            name = key or "全部"
            level = "orange" if alarm.value >= 2 * max(alarm.baseline_mean, 1) else "yellow"
            raised.append(alerts.upsert_alert(
                session, key=f"surge:{key or '*'}:{alarm.period.isoformat()}", kind="surge", level=level,
                title=(f"信访量激增：{name} {alarm.period:%m-%d} 共 {alarm.value:.0f} 件（基线均值 {alarm.baseline_mean:.1f}）",
                       f"Surge: {key or 'all'} on {alarm.period:%m-%d}: {alarm.value:.0f} (baseline {alarm.baseline_mean:.1f})"),
                area_code=None, category=key,
                evidence={"petition_ids": _ids_on(session, alarm.period, key), "day": alarm.period.isoformat(),
                          "count": alarm.value, "baseline_mean": round(alarm.baseline_mean, 2),
                          "baseline_sd": round(alarm.baseline_sd, 2), "statistic": round(alarm.statistic, 2),
                          "method": "cusum"}, now=now))
    for alert in raised:
        alert.evidence = {**alert.evidence, "tracking_nos": _tracking(session, alert.evidence["petition_ids"])}
    return raised


def _ids_on(session: Session, day, category: str | None, limit: int = 50) -> list[int]:
    zone = trends.local_zone()
    lo = datetime.combine(day, datetime.min.time(), zone)
    stmt = select(Petition.id, Petition.category_id).where(Petition.received_at >= lo,
                                                           Petition.received_at < lo + timedelta(days=1))
    rows = session.execute(stmt.order_by(Petition.id)).all()
    if category is None:
        return [pid for pid, _ in rows][:limit]
    top = trends.top_categories(session)
    return [pid for pid, cid in rows if top.get(cid) == category][:limit]


def _tracking(session: Session, ids: list[int]) -> list[str]:
    if not ids:
        return []
    found = dict(session.execute(select(Petition.id, Petition.tracking_no).where(Petition.id.in_(ids))).all())
    return [found[i] for i in ids if i in found]


def do_scan_clusters(session: Session, *, now: datetime | None = None, replications: int = 199) -> list[RiskAlert]:
    """Run the space–time scan over districts for the last days; raise an alert for each significant recent cluster."""
    now = now or utcnow()
    zone = trends.local_zone()
    since = now - timedelta(days=HISTORY_DAYS)
    districts = trends.districts(session)
    rows = session.execute(select(Petition.id, Petition.area_code, Petition.received_at)
                           .where(Petition.received_at >= since, Petition.area_code.is_not(None))).all()
    events, by_cell = [], {}
    for pid, code, at in rows:
        district = districts.get(code, code[:6])
        day = trends.local_day(at, zone)
        events.append((district, day))
        by_cell.setdefault((district, day), []).append(pid)
    if len(events) < 20:
        return []
    today = trends.local_day(now, zone)
    result = scan.space_time_scan(events, end=today, replications=replications, seed=today.toordinal())
    names = dict(session.execute(select(Area.code, Area.name).where(Area.code.in_({d for d, _ in events}))).all())
    raised = []
    for cluster in result.significant(0.05):
        ids = [pid for (d, day), pids in by_cell.items() if d in cluster.areas and cluster.start <= day <= cluster.end
               for pid in pids]
        label = "、".join(names.get(a, a) for a in cluster.areas)
        level = "orange" if cluster.p_value < 0.01 and cluster.observed >= 10 else "yellow"
        raised.append(alerts.upsert_alert(
            session, key=f"cluster:{'+'.join(cluster.areas)}:{cluster.start.isoformat()}", kind="cluster", level=level,
            title=(f"时空聚集：{label} {cluster.start:%m-%d}至{cluster.end:%m-%d} {cluster.observed} 件"
                   f"（预期 {cluster.expected:.1f}）",
                   f"Cluster: {label} {cluster.start:%m-%d}–{cluster.end:%m-%d}: {cluster.observed} "
                   f"(expected {cluster.expected:.1f})"),
            area_code=cluster.areas[0] if len(cluster.areas) == 1 else None, category=None,
            evidence={"petition_ids": ids[:100], "tracking_nos": _tracking(session, ids[:100]), **cluster.to_dict(),
                      "model": result.model}, now=now))
    return raised
