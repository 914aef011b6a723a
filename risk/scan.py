"""Kulldorff's prospective space–time scan statistic over areas × days, vectorised with numpy.

Candidate clusters are cylinders: a zone (one area, or an area with its neighbours when an adjacency is given)
times a window of the last 1 … ``max_days`` days. Each cylinder's log-likelihood ratio compares the cases inside
with those expected; the most likely cluster is the one with the largest ratio, and its p-value comes from
Monte Carlo replicas of the data under the null hypothesis (seeded, so a run is reproducible).

Two models:

- **space–time permutation** (no baseline; Kulldorff et al. 2005): expected cases of area a on day t are
  N_a · N_t / N, and a replica shuffles the days among the cases, keeping each area's and each day's totals.
- **Poisson** (a baseline of expected counts per area, per day or constant): expected cases are proportional to
  the baseline and sum to N; a replica distributes the N cases multinomially by the baseline.

Both use the Poisson generalised likelihood ratio conditioned on the total,
LLR = c·ln(c/μ) + (N−c)·ln((N−c)/(N−μ)) for c > μ, else 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np


@dataclass(frozen=True)
class Cluster:
    """A space–time cluster: its areas and days, the cases observed and expected, the ratio and its p-value."""

    areas: tuple[str, ...]
    start: date
    end: date
    observed: int
    expected: float
    llr: float
    p_value: float

    @property
    def days(self) -> int:
        """Return the window's length in days."""
        return (self.end - self.start).days + 1

    @property
    def relative_risk(self) -> float:
        """Return observed / expected inside the cluster."""
        return self.observed / self.expected if self.expected > 0 else float("inf")

    def to_dict(self) -> dict:
        """Return the cluster as plain JSON-ready data."""
        return {"areas": list(self.areas), "start": self.start.isoformat(), "end": self.end.isoformat(),
                "days": self.days, "observed": self.observed, "expected": round(self.expected, 3),
                "relative_risk": round(self.relative_risk, 3), "llr": round(self.llr, 4), "p_value": self.p_value}


@dataclass(frozen=True)
class ScanResult:
    """The clusters found (most likely first, then secondary ones sharing no area), with the run's parameters."""

    model: str
    clusters: tuple[Cluster, ...]
    total: int
    areas: tuple[str, ...]
    start: date | None
    end: date | None
    replications: int
    null_llrs: np.ndarray

    def significant(self, alpha: float = 0.05) -> list[Cluster]:
        """Return the clusters with p < alpha."""
        return [c for c in self.clusters if c.p_value < alpha]


def _llr(c: np.ndarray, mu: np.ndarray, total: float) -> np.ndarray:
    """Return the Poisson LLR of observed c against expected mu, conditioned on the total; 0 where c <= mu."""
    c = np.asarray(c, dtype=np.float64)
    mu = np.broadcast_to(np.asarray(mu, dtype=np.float64), c.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(c > 0, c * np.log(c / mu), 0.0)
        rest = total - c
        outside = np.where(rest > 0, rest * np.log(rest / (total - mu)), 0.0)
        out = inside + outside
    return np.where((c > mu) & (mu > 0), out, 0.0)


def _zones(areas: Sequence[str], adjacency: Mapping[str, Iterable[str]] | None) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Return the zones' membership matrix (zones × areas) and their area names: each area, and with neighbours."""
    index = {a: i for i, a in enumerate(areas)}
    seen: set[tuple[int, ...]] = set()
    members: list[tuple[int, ...]] = []
    for a in areas:
        for zone in ([index[a]],
                     [index[a], *(index[b] for b in (adjacency or {}).get(a, ()) if b in index)] if adjacency else []):
            key = tuple(sorted(set(zone)))
            if key and key not in seen:
                seen.add(key)
                members.append(key)
    matrix = np.zeros((len(members), len(areas)), dtype=np.float64)
    for z, zone in enumerate(members):
        matrix[z, list(zone)] = 1.0
    return matrix, [tuple(areas[i] for i in zone) for zone in members]


def _window_sums(counts: np.ndarray, max_days: int) -> np.ndarray:
    """Return sums over the last 1 … max_days days: (..., areas, days) → (..., areas, max_days)."""
    tail = counts[..., ::-1][..., :max_days]
    return np.cumsum(tail, axis=-1)


def space_time_scan(events: Iterable[tuple[str, date]], *, start: date | None = None, end: date | None = None,
                    areas: Sequence[str] | None = None, baseline: Mapping[str, float | Sequence[float]] | None = None,
                    adjacency: Mapping[str, Iterable[str]] | None = None, max_days: int = 7,
                    max_share: float = 0.5, replications: int = 99, seed: int = 0,
                    max_clusters: int = 5) -> ScanResult:
    """Find space–time clusters of case events (area code, local day) in the days up to ``end``.

    start/end bound the study period (default: the events' first and last day); events outside it or in an
    unknown area (when ``areas`` or ``baseline`` names them) are ignored. ``baseline`` maps each area to its
    expected cases per day (a number, or one per day of the period) and selects the Poisson model; without it
    the space–time permutation model is used. A cylinder may hold at most ``max_share`` of the expected cases.
    Secondary clusters share no area with a better one; each p-value is (1 + replicas with a larger maximum) /
    (1 + replications), as SaTScan reports them.
    """
    events = list(events)
    if areas is None:
        names = set(baseline) if baseline is not None else {a for a, _ in events}
        areas = sorted(names)
    areas = tuple(areas)
    days = [d for _, d in events]
    start = start or (min(days) if days else None)
    end = end or (max(days) if days else None)
    model = "poisson" if baseline is not None else "space_time_permutation"
    empty = ScanResult(model, (), 0, areas, start, end, replications, np.zeros(0))
    if start is None or end is None or not areas or end < start:
        return empty
    n_days = (end - start).days + 1
    max_days = max(1, min(max_days, n_days))
    area_index = {a: i for i, a in enumerate(areas)}
    cells = np.array([area_index[a] * n_days + (d - start).days for a, d in events
                      if a in area_index and start <= d <= end], dtype=np.int64)
    total = len(cells)
    if total == 0:
        return ScanResult(model, (), 0, areas, start, end, replications, np.zeros(0))
    observed = np.bincount(cells, minlength=len(areas) * n_days).reshape(len(areas), n_days).astype(np.float64)
    rng = np.random.default_rng(seed)

    if baseline is None:
        expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / total
        area_of, day_of = np.divmod(cells, n_days)
        # Each replica shuffles the cases' days: the argsort of uniform noise is a uniform random permutation.
        perm = np.argsort(rng.random((replications, total)), axis=1)
        flat = (np.arange(replications)[:, None] * len(areas) + area_of[None, :]) * n_days + day_of[perm]
        null = np.bincount(flat.ravel(), minlength=replications * len(areas) * n_days)
        null = null.reshape(replications, len(areas), n_days).astype(np.float64)
    else:
        weights = np.zeros((len(areas), n_days))
        for a, value in baseline.items():
            if a in area_index:
                row = np.asarray(value, dtype=np.float64)
                if row.ndim and len(row) != n_days:
                    raise ValueError(f"baseline of {a!r} has {len(row)} days; the period has {n_days}")
                weights[area_index[a]] = row
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("the baseline needs non-negative expected counts with a positive total")
        p = (weights / weights.sum()).ravel()
        expected = (p * total).reshape(len(areas), n_days)
        null = rng.multinomial(total, p, size=replications).reshape(replications, len(areas), n_days).astype(np.float64)

    zone_matrix, zone_names = _zones(areas, adjacency)
    obs_c = zone_matrix @ _window_sums(observed, max_days)            # zones × windows
    mu = zone_matrix @ _window_sums(expected, max_days)
    null_c = np.einsum("za,raw->rzw", zone_matrix, _window_sums(null, max_days))
    allowed = mu <= max_share * total
    llr = np.where(allowed, _llr(obs_c, mu, total), 0.0)
    null_max = np.where(allowed[None], _llr(null_c, mu[None], total), 0.0).reshape(replications, -1).max(axis=1)

    clusters: list[Cluster] = []
    used: set[str] = set()
    for flat_i in np.argsort(-llr, axis=None, kind="stable"):
        z, w = divmod(int(flat_i), max_days)
        if llr[z, w] <= 0 or len(clusters) >= max_clusters:
            break
        names = zone_names[z]
        if used.intersection(names):
            continue
        used.update(names)
        p_value = (1 + int((null_max >= llr[z, w] - 1e-9).sum())) / (replications + 1)
        clusters.append(Cluster(names, end - timedelta(days=w), end, int(round(obs_c[z, w])), float(mu[z, w]),
                                float(llr[z, w]), p_value))
    return ScanResult(model, tuple(clusters), total, areas, start, end, replications, null_max)
