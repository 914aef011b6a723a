"""Surveillance on both databases: a category surge and a district cluster each raise one alert, quiet data none."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from core.db import utcnow
from risk import surveillance
from risk.models import RiskAlert
from tests.cases.helpers import register

DISTRICTS = ["430102", "430103", "430104", "430105", "430111", "430112"]


def _background(s, now, rng, days=40):
    for d in range(days, 0, -1):
        for _ in range(rng.choice([2, 3, 3, 4])):
            category = rng.choice(["城乡建设", "环境保护", "交通运输"])
            register(s, category=category, area_code=rng.choice(DISTRICTS), now=now - timedelta(days=d, hours=rng.random() * 8),
                     petitioner={"name": "某", "phone": f"139{rng.randrange(10**8):08d}"})


def test_quiet_history_raises_nothing(db):
    now = utcnow()
    with db.transaction() as s:
        _background(s, now, random.Random(1))
    with db.transaction() as s:
        assert surveillance.do_detect_surges(s, now=now) == []
        assert surveillance.do_scan_clusters(s, now=now, replications=99) == []


def test_surge_and_cluster_raise_alerts_once(db):
    now = utcnow()
    rng = random.Random(2)
    with db.transaction() as s:
        _background(s, now, rng)
        for k in range(25):  # today: one category, one district, many people
            register(s, category="劳动和社会保障", area_code="430111", now=now - timedelta(hours=rng.random() * 5),
                     petitioner={"name": "工友", "phone": f"1370000{k:04d}"})
    with db.transaction() as s:
        surges = surveillance.do_detect_surges(s, now=now)
        clusters = surveillance.do_scan_clusters(s, now=now, replications=99)
        kinds = {(a.kind, a.category) for a in surges}
        assert ("surge", "劳动和社会保障") in kinds
        assert any(a.area_code == "430111" and a.evidence["p_value"] < 0.05 for a in clusters)
        assert all(len(a.evidence["tracking_nos"]) > 0 for a in surges + clusters)
    with db.transaction() as s:
        before = s.scalar(select(RiskAlert.id).order_by(RiskAlert.id.desc()))
        surveillance.do_detect_surges(s, now=now)
        surveillance.do_scan_clusters(s, now=now, replications=99)
        assert s.scalar(select(RiskAlert.id).order_by(RiskAlert.id.desc())) == before  # the same alerts, updated
