"""Space–time scan: an injected cluster is found and significant; pure background is not; seeded and fast."""

from __future__ import annotations

import time
from datetime import date, timedelta

import numpy as np
import pytest

from risk.scan import space_time_scan

AREAS = [f"4301{i:02d}" for i in range(20)]
START = date(2024, 1, 1)


def _background(seed: int, days: int = 60, lam: float = 1.0) -> list[tuple[str, date]]:
    rng = np.random.default_rng(seed)
    return [(a, START + timedelta(days=t)) for a in AREAS for t in range(days) for _ in range(rng.poisson(lam))]


def _inject(events, area: str, last_days: int, n: int, seed: int = 0, days: int = 60):
    rng = np.random.default_rng(seed)
    return events + [(area, START + timedelta(days=days - 1 - int(rng.integers(0, last_days)))) for _ in range(n)]


def test_permutation_scan_finds_an_injected_cluster():
    events = _inject(_background(1), AREAS[7], last_days=3, n=12)
    result = space_time_scan(events, max_days=7, replications=99, seed=3)
    assert result.model == "space_time_permutation" and result.total == len(events)
    top = result.clusters[0]
    assert top.areas == (AREAS[7],) and top.p_value < 0.05
    assert top.end == START + timedelta(days=59) and 1 <= top.days <= 4
    assert top.observed > 2 * top.expected and top.relative_risk > 2
    assert result.significant() == [top]
    # Secondary clusters never reuse an area of a better one.
    seen: set[str] = set()
    for cluster in result.clusters:
        assert not seen & set(cluster.areas)
        seen |= set(cluster.areas)
    assert top.to_dict()["areas"] == [AREAS[7]]


def test_poisson_scan_with_a_baseline_and_neighbours():
    events = _background(2)
    # A cluster straddling two neighbouring areas, each alone only modestly raised.
    events = _inject(events, AREAS[3], last_days=2, n=6, seed=1)
    events = _inject(events, AREAS[4], last_days=2, n=6, seed=2)
    adjacency = {a: [AREAS[i - 1], AREAS[(i + 1) % len(AREAS)]] for i, a in enumerate(AREAS)}
    result = space_time_scan(events, baseline={a: 1.0 for a in AREAS}, adjacency=adjacency, max_days=7,
                             replications=199, seed=5)
    assert result.model == "poisson"
    top = result.clusters[0]
    assert {AREAS[3], AREAS[4]} <= set(top.areas) and top.p_value < 0.05
    assert top.expected == pytest.approx(top.days * len(top.areas) * result.total / (len(AREAS) * 60))


def test_background_alone_is_rarely_significant():
    significant = 0
    for seed in range(10):
        result = space_time_scan(_background(100 + seed), replications=99, seed=seed)
        assert result.clusters and result.clusters[0].p_value > 0.0
        significant += bool(result.significant(0.05))
    # Under the null each run is significant with probability 5 %; two or more of ten would be unusual (8.6 %).
    assert significant <= 2


def test_same_seed_same_answer_and_fast():
    events = _inject(_background(4), AREAS[0], last_days=2, n=8)
    began = time.perf_counter()
    first = space_time_scan(events, replications=99, seed=11)
    elapsed = time.perf_counter() - began
    second = space_time_scan(events, replications=99, seed=11)
    assert first.clusters == second.clusters and np.array_equal(first.null_llrs, second.null_llrs)
    assert elapsed < 1.0


def test_empty_and_unknown_input():
    assert space_time_scan([]).clusters == ()
    result = space_time_scan([("999999", START)], areas=AREAS)
    assert result.total == 0 and result.clusters == ()
    # The study period bounds the events; a window never runs past its start.
    late = space_time_scan(_background(6), start=START + timedelta(days=57), max_days=7, replications=19)
    assert all(c.start >= START + timedelta(days=57) for c in late.clusters)
