"""Collective-petition early warning on real data: replay the message board as a stream, inject synthetic groups.

Run: ``.venv/bin/python bench/risk.py [--groups 40] [--seed 7] [--limit 0]``

The Teddy Cup 2020 C messages with real timestamps (fj3_likes.csv, fj4_replies.csv) are registered in time order
through the real code path (cases.service.create_petition, then the risk task: lexicon score, red alerts,
collective check) into a fresh SQLite database. The pseudonymised district tokens in the text (A3区, A7县, K1区 …)
become areas. Synthetic groups — k = 5…30 different people, one issue, one district, spread over at most 72 hours,
each person wording it their own way — are injected at random times. Printed: detection recall, detection delay
(from a group's first message to the message that raised its alert), alert levels, and alerts raised on the real
background per week (some are genuine clusters on the board; examples are printed to judge them). Then the contest's hot-issue
check: how the most-liked messages of fj3_likes.csv rank in our hot list (the figures of bench/risk_stats.py).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import record_output, save_results  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "teddycup2020_c"
TZ = ZoneInfo("Asia/Shanghai")
DISTRICT = re.compile(r"([A-Z]\d{1,2}(?:区|县|市))")

# Synthetic issues: fragments each person combines in their own order and words.
ISSUES = [
    ("{estate}小区开发商延期交房", ["开发商承诺去年底交房，到现在还没交", "我们业主每月还着房贷却住不进去",
                                   "售楼部已经人去楼空", "要求政府督促开发商尽快交房并赔偿违约金",
                                   "{estate}项目停工快半年了", "多次找开发商都没有结果"]),
    ("{estate}工地拖欠农民工工资", ["我们在{estate}工地干了八个月", "包工头说老板没给钱，工资一直拖着", "快过年了家里等着钱用",
                                   "一共欠我们几十个工人的工资", "劳动监察去过一次就没下文了", "请政府帮我们讨回血汗钱"]),
    ("{estate}附近工厂夜间排放刺鼻气体", ["每天晚上十点以后就有很重的化学气味", "家里老人小孩咳嗽不止", "窗户都不敢开",
                                         "怀疑{estate}旁边的厂偷排废气", "环保热线打了好几次", "要求彻查并关停违法排放"]),
    ("{estate}物业擅自上涨物业费", ["物业没开业主大会就把物业费涨了一倍", "{estate}小区服务质量越来越差", "电梯经常坏也不修",
                                   "不交就停水停电威胁业主", "要求物价部门介入查处", "我们要求罢免这家物业"]),
    ("{estate}学校周边违章建筑影响学生安全", ["学校门口搭了一排铁皮房", "上下学时段车和人挤在一起很危险",
                                           "{estate}附近的这些违建存在很久了", "城管来过但没有拆", "孩子差点被车撞到",
                                           "请尽快拆除违章建筑"]),
    ("{estate}拆迁安置房迟迟不能入住", ["拆迁时承诺两年内回迁", "现在已经过去四年了", "我们一直在外面租房",
                                       "过渡费也停发了", "{estate}安置小区至今没有验收", "请政府给我们一个明确的回迁时间"]),
]
ESTATES = ["金桂园", "翠竹苑", "湘江世纪城", "梅溪湖壹号", "星城花园", "枫林绿洲", "锦绣华庭", "望月湖", "南湖新城", "麓谷小镇"]


def read_messages() -> list[dict]:
    rows = []
    for name in ("fj3_likes.csv", "fj4_replies.csv"):
        with (DATA / name).open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                when = _parse_time(row["留言时间"])
                if when is None:
                    continue
                text = f"{row['留言主题']} {row['留言详情']}"
                match = DISTRICT.search(text)
                rows.append({"id": f"{name[:3]}-{row['留言编号']}", "title": row["留言主题"][:200],
                             "content": row["留言详情"] or row["留言主题"], "at": when,
                             "district": match.group(1) if match else "A市", "user": row["留言用户"], "synthetic": None})
    rows.sort(key=lambda r: r["at"])
    return rows


def _parse_time(value: str) -> datetime | None:
    value = (value or "").strip()
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=TZ)
        except ValueError:
            continue
    return None


def make_groups(messages: list[dict], n: int, rng: random.Random) -> list[list[dict]]:
    districts = sorted({m["district"] for m in messages})
    start, end = messages[0]["at"], messages[-1]["at"]
    groups = []
    for g in range(n):
        k = rng.randint(5, 30)
        title_tpl, fragments = rng.choice(ISSUES)
        estate = rng.choice(ESTATES)
        district = rng.choice(districts)
        t0 = start + (end - start) * rng.random()
        members = []
        for person in range(k):
            parts = rng.sample(fragments, rng.randint(2, 4))
            title = title_tpl.format(estate=estate) if rng.random() < 0.5 else parts[0].format(estate=estate)[:30]
            content = f"{district}{estate}，" + "，".join(p.format(estate=estate) for p in parts) + "。"
            at = t0 + timedelta(hours=72 * rng.random() ** 1.5)
            members.append({"id": f"g{g}-{person}", "title": title, "content": content, "at": at, "district": district,
                            "user": f"G{g}-{person}", "synthetic": g, "k": k})
        members.sort(key=lambda m: m["at"])
        groups.append(members)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limit", type=int, default=0, help="only the first N real messages (0: all)")
    parser.add_argument("--no-hot", action="store_true", help="skip the hot-issue ranking of fj3_likes.csv")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"data not found: {DATA}")
    printed = record_output()
    rng = random.Random(args.seed)
    messages = read_messages()
    if args.limit:
        messages = messages[: args.limit]
    groups = make_groups(messages, args.groups, rng)
    stream = sorted(messages + [m for g in groups for m in g], key=lambda m: m["at"])

    from sqlalchemy import select

    from cases import catalog, service
    from cases.schemas import PetitionCreate
    from core import db as core_db
    from core import security
    from core.accounts import SYSTEM
    from core.settings import Settings, configure
    from risk import service as risk_service
    from risk.models import RiskAlert
    from risk.tasks import assess_petition
    from server.migrate import upgrade
    from server.models_registry import load_models, load_tasks

    tmp = Path(tempfile.mkdtemp(prefix="bench-risk-"))
    settings = configure(Settings(environment="test", database_url=f"sqlite:///{tmp / 'risk.db'}", route_on_register=False,
                                  risk_on_register=False, embedded_scheduler=False, pii_key="bench", secret_key="bench"))
    security.configure(settings)
    load_models()
    load_tasks()
    db = core_db.configure(settings)
    upgrade(db)
    districts = sorted({m["district"] for m in stream})
    codes = {d: f"99{i + 1:04d}" for i, d in enumerate(districts)}
    with db.transaction() as s:
        catalog.load_taxonomy(s)
        catalog.upsert_areas(s, [{"code": "990000", "name": "A市（化名）", "level": "city", "parent_code": None}]
                             + [{"code": c, "name": d, "level": "district", "parent_code": "990000"} for d, c in codes.items()
                                if c != "990000"])
        risk_service.seed_lexicon(s)

    t_start = time.perf_counter()
    petition_of: dict[str, int] = {}
    alert_first_seen: dict[int, tuple[datetime, str]] = {}
    check_ms: list[float] = []
    for m in stream:
        with db.transaction() as s:
            data = PetitionCreate(title=m["title"] or m["content"][:30], content=m["content"][:20000], channel="webchat",
                                  area_code=codes[m["district"]], received_at=m["at"],
                                  petitioner={"name": m["user"][:20], "phone": None, "id_number": None})
            p, _ = service.create_petition(s, data=data, actor=SYSTEM, now=m["at"])
            petition_of[m["id"]] = p.id
        t0 = time.perf_counter()
        result = assess_petition(petition_id=p.id)
        check_ms.append((time.perf_counter() - t0) * 1000)
        for alert_id in result["alerts"]:
            alert_first_seen.setdefault(alert_id, (m["at"], m["id"]))
    elapsed = time.perf_counter() - t_start

    synthetic_ids = {petition_of[m["id"]]: m["synthetic"] for g in groups for m in g}
    with db.session() as s:
        all_alerts = list(s.scalars(select(RiskAlert)))
    collective = [a for a in all_alerts if a.kind == "collective"]
    detected: dict[int, tuple[float, str, int]] = {}
    background_alerts = []
    for a in collective:
        members = a.evidence["petition_ids"]
        tags = [synthetic_ids.get(pid) for pid in members]
        injected = [t for t in tags if t is not None]
        if injected and len(injected) * 2 >= len(members):
            g = max(set(injected), key=injected.count)
            first_at = groups[g][0]["at"]
            seen_at = alert_first_seen.get(a.id, (a.created_at, ""))[0]
            delay_h = (seen_at - first_at).total_seconds() / 3600
            prior = detected.get(g)
            if prior is None or delay_h < prior[0]:
                detected[g] = (delay_h, a.level, len(injected))
        else:
            background_alerts.append(a)
    weeks = (messages[-1]["at"] - messages[0]["at"]).days / 7
    delays = sorted(d for d, _, _ in detected.values())
    print(f"stream: {len(messages)} real messages {messages[0]['at']:%Y-%m-%d} … {messages[-1]['at']:%Y-%m-%d} "
          f"({weeks:.0f} weeks, {len(districts)} districts) + {sum(len(g) for g in groups)} injected in {len(groups)} groups")
    print(f"time: {elapsed:.0f} s total, risk task per petition p50 {statistics.median(check_ms):.1f} ms, "
          f"p95 {sorted(check_ms)[int(0.95 * len(check_ms))]:.1f} ms")
    print(f"detected groups: {len(detected)}/{len(groups)} = recall {len(detected) / len(groups):.3f}")
    if delays:
        print(f"detection delay after the group's first message: median {statistics.median(delays):.1f} h, "
              f"p90 {delays[int(0.9 * (len(delays) - 1))]:.1f} h, max {delays[-1]:.1f} h")
        by_k = {}
        for g, (_, level, _) in detected.items():
            by_k.setdefault("5-10" if groups[g][0]["k"] <= 10 else "11-30", []).append(level)
        print("levels of detected groups:", {k: {lv: v.count(lv) for lv in set(v)} for k, v in by_k.items()})
    missed = [g for g in range(len(groups)) if g not in detected]
    if missed:
        print("missed groups (k, district):", [(groups[g][0]["k"], groups[g][0]["district"]) for g in missed])
    print(f"alerts on the real background: {len(background_alerts)} = {len(background_alerts) / weeks:.2f} per week")
    for a in background_alerts[:8]:
        print(f"  [{a.level}] {a.title_zh[:70]}")
    reds = [a for a in all_alerts if a.kind == "red_petition"]
    print(f"red-petition alerts: {len(reds)} ({len(reds) / weeks:.2f} per week)")
    if not args.no_hot:
        # The contest's hot-issue check: where do the most-liked messages of fj3 rank in our hot list?
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import risk_stats

        from risk.topics import THRESHOLD

        risk_stats.contest_hot_issues(risk_stats.load(), THRESHOLD)
    save_results("risk", {
        "args": vars(args), "real_messages": len(messages), "injected": sum(len(g) for g in groups), "weeks": round(weeks, 1),
        "seconds": round(elapsed, 1), "risk_task_ms": {"p50": statistics.median(check_ms),
                                                        "p95": sorted(check_ms)[int(0.95 * len(check_ms))]},
        "groups_detected": len(detected), "groups": len(groups), "recall": len(detected) / len(groups),
        "delay_h": {"median": statistics.median(delays), "p90": delays[int(0.9 * (len(delays) - 1))],
                    "max": delays[-1]} if delays else None,
        "background_alerts_per_week": len(background_alerts) / weeks, "red_alerts_per_week": len(reds) / weeks,
        "printed": printed()})


if __name__ == "__main__":
    main()
