"""The risk module's statistics on the real Teddy Cup 2020 message board, replayed as a stream in time order.

Data: ../shared/data/teddycup2020_c/fj3_likes.csv (with 点赞数) and fj4_replies.csv, both with 留言时间 to the
second (local time). The study stream is the calendar year where both files are dense (2019 by default).

Prints:
1. daily and weekly volume;
2. EARS C2 and CUSUM alarms on the real background (the total and each district), per week, computed by
   replaying day by day (each day sees only the days before it) and checked against the batch functions;
3. 4-week forecasts on rolling origins (daily and weekly series): coverage of the 80 % and 95 % intervals,
   MAE against a seasonal-naive forecast;
4. the space–time scan over districts × days (pseudonymised tokens such as A7县, A3区 read from the text):
   runtime, significant clusters on real background, and detection of small injected clusters;
5. hot topics: the contest-style check on fj3_likes.csv (where the 20 most-liked messages fall in our
   ranking of issues, by size alone and by heat = size and likes) and the last 7 / 30 days' themes with
   their growth at a few dates.

    .venv/bin/python bench/risk_stats.py                  # about a minute on 2 cores
    .venv/bin/python bench/risk_stats.py --year 2019 --threshold 0.3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder would shadow the project's packages of the same names.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pandas 3 deprecations raised inside statsmodels' imports
    import pandas as pd  # noqa: E402

from risk import trends  # noqa: E402
from risk.scan import space_time_scan  # noqa: E402
from risk.topics import PLACE, THRESHOLD, hot_topics, terms  # noqa: E402

sys.path.append(str(HERE))  # last, so that it shadows nothing of the project's
from _common import record_output, save_results  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "teddycup2020_c"


def load(data_dir: Path = DATA) -> pd.DataFrame:
    """Read both board files: id, source, title, content, time (aware, local), likes (fj3 only), area token."""
    frames = []
    for name, source in (("fj3_likes.csv", "fj3"), ("fj4_replies.csv", "fj4")):
        df = pd.read_csv(data_dir / name, dtype={"留言编号": str})
        frames.append(pd.DataFrame({
            "id": source + ":" + df["留言编号"], "source": source, "title": df["留言主题"].fillna("").astype(str),
            "content": df["留言详情"].fillna("").astype(str),
            "time": pd.to_datetime(df["留言时间"], format="mixed").dt.tz_localize("Asia/Shanghai"),
            "likes": df["点赞数"] if "点赞数" in df else 0}))
    out = pd.concat(frames, ignore_index=True).sort_values(["time", "id"], kind="stable").reset_index(drop=True)
    out["area"] = [district(t, c) for t, c in zip(out["title"], out["content"], strict=True)]
    return out


def district(title: str, content: str) -> str | None:
    """Return the message's district token: the first of the title, else of the text; a bare city (A市) is no district."""
    for text in (title, content):
        tokens = PLACE.findall(text or "")
        specific = [t for t in tokens if any(ch.isdigit() for ch in t) or not t.endswith("市")]
        if specific:
            return specific[0]
    return None


def section(title: str) -> None:
    print(f"\n== {title} ==")


def volume(df: pd.DataFrame, start: date, end: date) -> tuple[trends.Series, trends.Series]:
    rows = [(t.to_pydatetime(), None) for t in df["time"]]
    daily = trends.counts(rows, freq="D", start=start, end=end)[None]
    weekly = trends.counts(rows, freq="W", start=start, end=end)[None]
    y, w = daily.values.astype(float), weekly.values[1:-1].astype(float)  # whole weeks only
    section("volume")
    print(f"stream {start} … {end}: {len(df)} messages ({', '.join(f'{k} {v}' for k, v in df['source'].value_counts().items())})")
    print(f"daily: mean {y.mean():.1f}  sd {y.std(ddof=1):.1f}  median {np.median(y):.0f}  min {y.min():.0f}  "
          f"max {y.max():.0f} on {daily.periods[int(y.argmax())]}  dispersion var/mean {y.var(ddof=1) / y.mean():.2f}  "
          f"zero days {int((y == 0).sum())}")
    print(f"weekly ({len(w)} whole ISO weeks): mean {w.mean():.1f}  sd {w.std(ddof=1):.1f}  min {w.min():.0f}  max {w.max():.0f}")
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    by_weekday = [y[[i for i, p in enumerate(daily.periods) if p.weekday() == d]].mean() for d in range(7)]
    print("mean per weekday: " + "  ".join(f"{n} {v:.1f}" for n, v in zip(names, by_weekday, strict=True)))
    return daily, weekly


def replay_alarms(series: trends.Series) -> tuple[list[int], list[int]]:
    """Run C2 and CUSUM once a day on what is known by then; return the indices of the days that alarmed."""
    c2_days, cusum_days = [], []
    for t in range(len(series)):
        known = series.values[: t + 1]
        if any(a.index == t for a in trends.ears_c2(known)):
            c2_days.append(t)
    # CUSUM keeps state from day to day; replaying it is running it on the prefix and looking at the last day.
    for t in range(len(series)):
        if any(a.index == t for a in trends.cusum(series.values[: t + 1])):
            cusum_days.append(t)
    return c2_days, cusum_days


def surge_alarms(df: pd.DataFrame, daily: trends.Series, start: date, end: date) -> None:
    section("surge detection on the real background (EARS C2: 7-day baseline, 2-day lag, > 3; CUSUM: k 0.5, h 4)")
    weeks = len(daily) / 7
    c2_days, cusum_days = replay_alarms(daily)
    batch_c2 = [a.index for a in trends.ears_c2(daily)]
    batch_cusum = [a.index for a in trends.cusum(daily)]
    print(f"total daily series: C2 {len(c2_days)} alarms ({len(c2_days) / weeks:.2f}/week), "
          f"CUSUM {len(cusum_days)} ({len(cusum_days) / weeks:.2f}/week); replay == batch: "
          f"{c2_days == batch_c2 and cusum_days == batch_cusum}")
    shown = ", ".join(f"{daily.periods[i]} ({int(daily.values[i])})" for i in c2_days[:8])
    print(f"  C2 alarm days: {shown}{' …' if len(c2_days) > 8 else ''}")
    rows = [(t.to_pydatetime(), a) for t, a in zip(df["time"], df["area"], strict=True) if isinstance(a, str)]
    per_area = trends.counts(rows, by="area", freq="D", start=start, end=end)
    areas = sorted((a for a, s in per_area.items() if s.values.sum() >= 100), key=lambda a: -per_area[a].values.sum())
    c2_total = cusum_total = c2_min3_total = 0
    print(f"  per district (districts with >= 100 messages: {len(areas)}):")
    for area in areas:
        s = per_area[area]
        c2, cu, c2_min3 = len(trends.ears_c2(s)), len(trends.cusum(s)), len(trends.ears_c2(s, min_count=3))
        c2_total, cusum_total, c2_min3_total = c2_total + c2, cusum_total + cu, c2_min3_total + c2_min3
        print(f"    {area:5s} {int(s.values.sum()):5d} msgs  mean {s.values.mean():.2f}/day  "
              f"C2 {c2:3d} ({c2 / weeks:.2f}/wk)  C2 with >= 3 cases {c2_min3:3d}  CUSUM {cu:3d} ({cu / weeks:.2f}/wk)")
    print(f"  all districts together: C2 {c2_total / weeks:.2f}/week (with >= 3 cases {c2_min3_total / weeks:.2f}), "
          f"CUSUM {cusum_total / weeks:.2f}/week "
          f"({c2_total / weeks / max(len(areas), 1):.3f} and {cusum_total / weeks / max(len(areas), 1):.3f} per district-week)")
    weekly = trends.counts([(t.to_pydatetime(), None) for t in df["time"]], freq="W", start=start, end=end)[None]
    print(f"weekly total series: C2 {len(trends.ears_c2(weekly, baseline=4, lag=1))} alarms, "
          f"CUSUM {len(trends.cusum(weekly, baseline=8, lag=1, min_baseline=4))} alarms in {len(weekly)} weeks "
          f"(weekly baselines: C2 4 weeks lag 1, CUSUM 8 weeks lag 1)")


def _coverage(fc: trends.Forecast, actual: np.ndarray, level: float) -> np.ndarray:
    return (actual >= fc.lower[level] - 1e-9) & (actual <= fc.upper[level] + 1e-9)


def forecasts(daily: trends.Series, weekly: trends.Series) -> None:
    section("4-week forecasts on rolling origins")
    for label, series, first, step, horizon, season in (("daily, 28-day horizon", daily, 56, 7, 28, 7),
                                                         ("weekly, 4-week horizon", weekly, 10, 1, 4, 1)):
        values = series.values.astype(float)
        if label.startswith("weekly"):
            values = values[1:-1]  # whole weeks only
        cover = {0.8: [], 0.95: []}
        mae, naive_mae, methods, widths = [], [], Counter(), {0.8: [], 0.95: []}
        began = time.perf_counter()
        origins = list(range(first, len(values) - horizon + 1, step))
        for origin in origins:
            history, actual = values[:origin], values[origin:origin + horizon]
            fc = trends.forecast(history, horizon=horizon, freq="D" if season == 7 else "W")
            methods[fc.method] += 1
            for level in cover:
                cover[level].extend(_coverage(fc, actual, level))
                widths[level].extend(fc.upper[level] - fc.lower[level])
            mae.append(np.abs(fc.mean - actual).mean())
            # Seasonal naive: the last season repeated (the last week's days, or the last 4 weeks' mean).
            naive = np.resize(history[-season:], horizon) if season == 7 else np.full(horizon, history[-4:].mean())
            naive_mae.append(np.abs(naive - actual).mean())
        seconds = time.perf_counter() - began
        print(f"{label}: {len(origins)} origins, methods {dict(methods)}, {seconds / max(len(origins), 1) * 1000:.0f} ms/fit")
        print(f"  coverage 80 %: {np.mean(cover[0.8]):.3f}  95 %: {np.mean(cover[0.95]):.3f}  "
              f"(mean width {np.mean(widths[0.8]):.1f} / {np.mean(widths[0.95]):.1f})")
        print(f"  MAE {np.mean(mae):.2f}  seasonal-naive MAE {np.mean(naive_mae):.2f}  (mean level {values.mean():.1f})")


def scans(df: pd.DataFrame, start: date, end: date, replications: int, seed: int) -> None:
    section(f"space–time scan (permutation model, districts × last 60 days, windows up to 7 days, {replications} replications)")
    events = [(a, t.date()) for t, a in zip(df["time"], df["area"], strict=True) if isinstance(a, str)]
    counted = Counter(a for a, _ in events)
    areas = sorted(a for a, n in counted.items() if n >= 30)
    events = [(a, d) for a, d in events if a in set(areas)]
    print(f"{len(events)} of {len(df)} messages carry a district token among {len(areas)} districts with >= 30 messages "
          f"({', '.join(areas)})")
    rng = np.random.default_rng(seed)
    runtimes, sizes, significant, found, tried = [], [], [], 0, 0
    ends = [start + timedelta(days=59 + 7 * i) for i in range(((end - start).days - 59) // 7 + 1)]
    for i, last in enumerate(ends):
        window = [(a, d) for a, d in events if last - timedelta(days=59) <= d <= last]
        sizes.append(len(window))
        began = time.perf_counter()
        result = space_time_scan(window, start=last - timedelta(days=59), end=last, areas=areas, max_days=7,
                                 replications=replications, seed=seed + i)
        runtimes.append(time.perf_counter() - began)
        if result.significant():
            significant.append(result.clusters[0])
        # The same window with a small cluster injected: k messages in one district over the last 2 days.
        area = areas[int(rng.integers(len(areas)))]
        k = 8
        injected = window + [(area, last - timedelta(days=int(rng.integers(2)))) for _ in range(k)]
        hit = space_time_scan(injected, start=last - timedelta(days=59), end=last, areas=areas, max_days=7,
                              replications=replications, seed=seed + i)
        tried += 1
        found += any(area in c.areas and c.p_value < 0.05 for c in hit.clusters)
    print(f"{len(ends)} weekly scans: runtime mean {np.mean(runtimes) * 1000:.0f} ms, max {np.max(runtimes) * 1000:.0f} ms "
          f"({np.mean(sizes):.0f} events per window)")
    print(f"real background: {len(significant)} of {len(ends)} weekly scans have a cluster with p < 0.05 "
          f"({len(significant) / len(ends):.2f} per week)")
    for c in significant[:6]:
        print(f"  {','.join(c.areas)} {c.start}…{c.end}: observed {c.observed}, expected {c.expected:.1f}, "
              f"RR {c.relative_risk:.1f}, p {c.p_value:.3f}")
    print(f"injected clusters (8 messages, one district, last 2 days): detected at p < 0.05 in {found} of {tried}")
    areas_20 = [f"X{i}" for i in range(20)]
    synth = [(a, start + timedelta(days=t)) for a in areas_20 for t in range(60) for _ in range(rng.poisson(1.0))]
    began = time.perf_counter()
    space_time_scan(synth, replications=99, seed=seed)
    print(f"20 areas × 60 days × 99 replications ({len(synth)} events): {(time.perf_counter() - began) * 1000:.0f} ms")


def contest_hot_issues(df: pd.DataFrame, threshold: float) -> None:
    """Rank fj3's themes by size (volume alone), then by heat (size and likes); place the 20 most-liked messages."""
    fj3 = df[df["source"] == "fj3"]
    docs = list(zip(fj3["id"], fj3["title"], fj3["content"], strict=True))
    likes = dict(zip(fj3["id"], fj3["likes"], strict=True))
    title = dict(zip(fj3["id"], fj3["title"], strict=True))
    top = fj3.sort_values(["likes", "id"], ascending=[False, True]).head(20)
    total_likes = int(fj3["likes"].sum())
    for label, options in (("by size: themes of 2 or more, likes unused", {"rank_by": "size", "min_size": 2}),
                           ("by heat: sum of 1 + ln(1 + likes), single messages count as issues",
                            {"rank_by": "heat", "min_size": 1, "weights": likes})):
        section(f"hot issues of fj3_likes.csv ranked {label} (similarity threshold {threshold})")
        began = time.perf_counter()
        topics = hot_topics(docs, [], k=100000, threshold=threshold, **options)
        print(f"{len(docs)} messages -> {len(topics)} issues ({sum(t.size for t in topics)} messages) "
              f"in {time.perf_counter() - began:.1f} s")
        for rank, t in enumerate(topics[:10], start=1):
            print(f"  {rank:2d}. size {t.size:3d}  likes {sum(likes[i] for i in t.ids):5d}  heat {t.heat:6.1f}  "
                  f"{' '.join(t.keywords[:5])}  | {title[t.examples[0]][:36]}")
        rank_of = {i: r for r, t in enumerate(topics, start=1) for i in t.ids}
        ranks = [rank_of.get(i) for i in top["id"]]
        print("  the 20 most-liked messages: likes -> our rank (— = in no theme)")
        print("    " + ", ".join(f"{n} -> {r or '—'}" for n, r in zip(top["likes"], ranks, strict=True)))
        shares = "  ".join(f"top-{n}: {sum(1 for r in ranks if r and r <= n) / 20:.2f}" for n in (5, 10, 20, 50))
        ranked = [r for r in ranks if r]
        print(f"  share of the 20 most-liked inside our top-n issues: {shares}; in any: {len(ranked)} of 20, "
              f"median rank {statistics.median(ranked) if ranked else '—'}")
        for n in (5, 10):
            ids = {i for t in topics[:n] for i in t.ids}
            print(f"  our top-{n} issues hold {len(ids) / len(fj3):.3f} of the messages and "
                  f"{sum(likes[i] for i in ids) / total_likes:.3f} of all likes")


def recent_topics(df: pd.DataFrame, cuts: list[date], threshold: float) -> None:
    section("hot topics of the last 7 / 30 days, with growth against the period before")
    for cut in cuts:
        for days in (7, 30):
            now = pd.Timestamp(datetime.combine(cut + timedelta(days=1), datetime.min.time())).tz_localize("Asia/Shanghai")
            mid, lo = now - pd.Timedelta(days=days), now - pd.Timedelta(days=2 * days)
            cur = df[(df["time"] >= mid) & (df["time"] < now)]
            before = df[(df["time"] >= lo) & (df["time"] < mid)]
            began = time.perf_counter()
            topics = hot_topics(list(zip(cur["id"], cur["title"], cur["content"], strict=True)),
                                list(zip(before["id"], before["title"], before["content"], strict=True)),
                                k=5, threshold=threshold)
            title = dict(zip(cur["id"], cur["title"], strict=True))
            print(f"up to {cut}, last {days} days: {len(cur)} messages (before: {len(before)}), "
                  f"{time.perf_counter() - began:.2f} s")
            for t in topics:
                print(f"    size {t.size:2d}  earlier {t.earlier:2d}  growth {t.growth:4.1f}  {' '.join(t.keywords[:5])}"
                      f"  | {title[t.examples[0]][:36]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2019, help="the calendar year to replay (default 2019)")
    parser.add_argument("--replications", type=int, default=99)
    parser.add_argument("--threshold", type=float, default=None, help="topic similarity threshold (default: the module's)")
    parser.add_argument("--seed", type=int, default=20200101)
    args = parser.parse_args()
    printed = record_output()
    began = time.perf_counter()
    df = load()
    start, end = date(args.year, 1, 1), date(args.year, 12, 31)
    stream = df[(df["time"].dt.date >= start) & (df["time"].dt.date <= end)].reset_index(drop=True)
    daily, weekly = volume(stream, start, end)
    surge_alarms(stream, daily, start, end)
    forecasts(daily, weekly)
    scans(stream, start, end, args.replications, args.seed)
    seg = time.perf_counter()
    for title, content in zip(df["title"], df["content"], strict=True):
        terms(title)
        terms(content)
    print(f"\n(jieba segmentation of {len(df)} messages: {time.perf_counter() - seg:.1f} s)")
    threshold = args.threshold if args.threshold is not None else THRESHOLD
    contest_hot_issues(df, threshold)
    recent_topics(stream, [date(args.year, 6, 30), end], threshold)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")
    save_results("risk_stats", {"args": vars(args), "messages": len(df), "stream_messages": len(stream),
                                "seconds": round(time.perf_counter() - began, 1), "printed": printed()})


if __name__ == "__main__":
    main()
