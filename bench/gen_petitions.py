"""Write N realistic historical petitions as JSONL or CSV for `petition import` and the scale benchmark.

Titles, bodies and replies are recombined at run time from the real message-board data in
../shared/data/teddycup2020_c (never copied into the repository): a title and a body of the same first-level
category, sometimes with a sentence of a second body appended. The petitions spread over the demo's
长沙 areas, units, categories and channels and over the three years before now, with more intake on
weekdays and a slow growth; older petitions are further along the statutory loop, and some open ones are
overdue. Some petitioners come back again and again.

    python bench/gen_petitions.py 1000000 /tmp/petitions.jsonl
    python bench/gen_petitions.py 5000 /tmp/petitions.csv --seed 3
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder would shadow the project's packages of the same names (bench/channels.py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "teddycup2020_c"
SHANGHAI = ZoneInfo("Asia/Shanghai")
COLUMNS = ["source_id", "received_at", "channel", "title", "content", "category", "area", "address", "head_count",
           "unit", "status", "accepted_at", "closed_at", "petitioner_name", "petitioner_phone", "petitioner_id_number",
           "reply_text", "reply_at", "satisfied"]
CHANNELS = {"webchat": 18, "wechat": 24, "miniprogram": 6, "sms": 8, "phone": 32, "walk_in": 10, "letter": 8}
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
            "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红文斌建华海燕晓东玉兰宇浩欣怡子涵梓萱雨轩俊杰丹丹"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _read(name: str) -> list[dict]:
    with (DATA / name).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def load_texts() -> tuple[dict[str, list[str]], dict[str, list[str]], list[str]]:
    """Return titles and bodies by first-level category, and the department replies, from the real data."""
    titles: dict[str, list[str]] = {}
    bodies: dict[str, list[str]] = {}
    for row in _read("fj2_titles_labels.csv"):
        titles.setdefault(row["一级标签"], []).append(row["留言主题"].strip())
    for row in _read("fj2_details_labels.csv"):
        bodies.setdefault(row["一级标签"], []).append(row["留言详情"].strip())
    for row in _read("fj2_sample_495.csv"):
        titles.setdefault(row["一级标签"], []).append(row["留言主题"].strip())
        bodies.setdefault(row["一级标签"], []).append(row["留言详情"].strip())
    replies = [r["答复意见"].strip() for r in _read("fj4_replies.csv") if r["答复意见"].strip()]
    return ({k: [t for t in v if t][:] for k, v in titles.items()},
            {k: [b[:3000] for b in v if b] for k, v in bodies.items()}, [r[:3000] for r in replies])


def _taxonomy() -> dict[str, list[str]]:
    """Return each first-level category's paths (itself, level 2 and level 3) from the shipped taxonomy."""
    out: dict[str, list[str]] = {}
    with (ROOT / "cases" / "data" / "taxonomy.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            path = "/".join(p for p in (row["level1"], row["level2"], row["level3"]) if p)
            out.setdefault(row["level1"], []).append(path)
    return out


def id_number(rng: random.Random, area: str, born: datetime) -> str:
    """Return a resident ID number with a valid GB 11643 check character."""
    body = f"{area[:6]}{born:%Y%m%d}{rng.randrange(1000):03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


class People:
    """A pool of petitioners, some of whom come back (a power law over the pool)."""

    def __init__(self, rng: random.Random, size: int, areas: list[str]):
        self.rng, self.size, self.areas, self.cache = rng, max(size, 1), areas, {}

    def pick(self) -> dict:
        # Three picks in ten come from the first tenth of the pool, skewed towards its head: a few people
        # file dozens of petitions, most file one.
        if self.rng.random() < 0.3:
            index = int(max(self.size // 10, 1) * self.rng.random() ** 1.5)
        else:
            index = self.rng.randrange(self.size)
        if index not in self.cache:
            r = random.Random(index * 7919 + 1)
            born = datetime(1950, 1, 1) + timedelta(days=r.randrange(365 * 55))
            person = {"petitioner_name": r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2)))),
                      "petitioner_phone": f"1{r.choice('3456789')}{r.randrange(10**9):09d}"}
            if r.random() < 0.6:
                person["petitioner_id_number"] = id_number(r, r.choice(self.areas), born)
            self.cache[index] = person
        return self.cache[index]


def _status(rng: random.Random, age_days: float) -> str:
    if age_days < 5:
        table = {"registered": 60, "accepted": 25, "not_accepted": 5, "forwarded": 5, "assigned": 5}
    elif age_days < 20:
        table = {"registered": 8, "accepted": 10, "assigned": 35, "in_progress": 35, "not_accepted": 6, "forwarded": 6}
    elif age_days < 75:
        table = {"assigned": 10, "in_progress": 35, "replied": 30, "closed": 15, "not_accepted": 4, "forwarded": 4,
                 "withdrawn": 2}
    else:
        table = {"closed": 76, "final": 4, "not_accepted": 5, "forwarded": 5, "withdrawn": 3, "replied": 1,
                 "in_progress": 1, "review_requested": 1, "registered": 0.3, "accepted": 0.2, "review_replied": 1}
    return rng.choices(list(table), weights=list(table.values()))[0]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def generate(n: int, *, seed: int = 1, now: datetime | None = None, years: float = 3.0):
    """Yield n petitions as dicts of the import columns, oldest first."""
    from server.demo_data import changsha_areas, demo_units

    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(SHANGHAI)
    titles, bodies, replies = load_texts()
    taxonomy = _taxonomy()
    categories = sorted(set(titles) & set(bodies))
    weights = [len(titles[c]) + len(bodies[c]) for c in categories]
    areas = changsha_areas()
    streets = [a["code"] for a in areas if a["level"] == "street"]
    districts = [a["code"] for a in areas if a["level"] == "district"]
    units = demo_units()
    people = People(rng, int(n * 0.45), districts)
    days = int(365 * years)
    # Intake grows ~20 % a year and is lower at weekends.
    day_weights = []
    for d in range(days):
        day = (now - timedelta(days=days - d)).date()
        day_weights.append((1 + 0.2 * d / 365) * (0.55 if day.weekday() >= 5 else 1.0))
    picked = sorted(rng.choices(range(days), weights=day_weights, k=n))
    for i, d in enumerate(picked):
        day_start = datetime.combine((now - timedelta(days=days - d)).date(), datetime.min.time(), SHANGHAI)
        received = day_start + timedelta(seconds=rng.triangular(7 * 3600, 23 * 3600, 10 * 3600))
        if received > now:
            received = now - timedelta(minutes=rng.randrange(1, 600))
        category = rng.choices(categories, weights=weights)[0]
        body = rng.choice(bodies[category])
        if rng.random() < 0.3:
            extra = rng.choice(bodies[category]).split("。")[0]
            body = f"{body}{'' if body.endswith('。') else '。'}{extra}。"
        area = rng.choice(streets) if rng.random() < 0.8 else rng.choice(districts)
        age = (now - received).total_seconds() / 86400
        status = _status(rng, age)
        row = {"source_id": f"GEN{seed}-{i:07d}", "received_at": _stamp(received),
               "channel": rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0],
               "title": rng.choice(titles[category])[:200], "content": body,
               "category": rng.choice(taxonomy.get(category, [category])) if rng.random() < 0.95 else "",
               "area": area, "status": status}
        if rng.random() < 0.05:
            row["head_count"] = rng.randrange(5, 60)
        if rng.random() < 0.8:
            row.update(people.pick())
        if status not in ("registered", "not_accepted", "forwarded"):
            accepted = received + timedelta(hours=rng.uniform(2, min(24 * 12, max(age * 24 - 1, 2))))
            if accepted < now:
                row["accepted_at"] = _stamp(accepted)
            if status != "accepted":
                row["unit"] = _unit(rng, units, category, area)
            if status in ("replied", "closed", "final", "review_requested", "review_replied", "withdrawn") and accepted < now:
                reply_at = min(accepted + timedelta(days=rng.gammavariate(2.0, 12.0)), now - timedelta(minutes=5))
                if status != "withdrawn":
                    row["reply_text"] = rng.choice(replies)
                    row["reply_at"] = _stamp(reply_at)
                if status in ("closed", "final", "withdrawn"):
                    row["closed_at"] = _stamp(min(reply_at + timedelta(days=rng.uniform(0.5, 25)), now))
                    if status != "withdrawn" and rng.random() < 0.7:
                        row["satisfied"] = "yes" if rng.random() < 0.86 else "no"
        elif status in ("not_accepted", "forwarded"):
            row["closed_at"] = _stamp(min(received + timedelta(days=rng.uniform(1, 14)), now))
        yield row


def _unit(rng: random.Random, units: list[dict], category: str, area: str) -> str:
    fits = [u for u in units if any(c == category or c.startswith(category + "/") for c in u["categories"])]
    local = [u for u in fits if any(area.startswith(a) for a in u["area_codes"] if a != "430100")]
    pool = local if local and rng.random() < 0.6 else fits
    return rng.choice(pool)["code"] if pool else "CS-XFJ"


def write(rows, out: Path) -> int:
    """Write rows to out as JSONL or CSV (by extension) and return how many."""
    count = 0
    with out.open("w", encoding="utf-8", newline="") as fh:
        if out.suffix.lower() == ".csv":
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                count += 1
        else:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                count += 1
    return count


def main(argv: list[str] | None = None) -> None:
    """Generate the file and print how many rows, how big and how fast."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int)
    parser.add_argument("out", type=Path, help="OUT.jsonl or OUT.csv")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--years", type=float, default=3.0)
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"the real data is not at {DATA}")
    started = time.perf_counter()
    count = write(generate(args.n, seed=args.seed, years=args.years), args.out)
    seconds = time.perf_counter() - started
    print(f"{count} petitions -> {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB) in {seconds:.1f} s "
          f"({count / seconds:,.0f} rows/s)")


if __name__ == "__main__":
    main()
