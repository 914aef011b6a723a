"""Scale: import a million generated petitions into PostgreSQL, then time the console's pages on them.

Creates a separate database (petition_scale by default, dropped and recreated) on the PostgreSQL server the
tests use, migrates it, loads the demo's taxonomy, areas, units and staff, generates N petitions with
bench/gen_petitions.py (texts recombined from ../shared/data/teddycup2020_c) and loads them with
`petition import` (cases/importing), printing the import rate. A risk level is then given to every petition
in SQL (the importer scores nothing; ~2 % red, 6 % orange, 20 % yellow, the rest blue), so that the risk
filters and dashboards have realistic work, and the tables are VACUUM ANALYZEd as autovacuum would.

Then every console page is requested through the real app (FastAPI TestClient, signed in as the demo
triage officer, handler, supervisor and analyst): two warm-up requests, then --requests timed ones each,
p50 and p95 printed (a page that takes seconds gets fewer, at least 3). The pages are timed twice: "before"
without the indexes of migration 0010 (downgraded to 0009 for the run), and "after" with them; the time that
migration 0010 takes on the loaded table is printed too. The database is dropped at the end unless --keep.

    .venv/bin/python bench/scale.py --n 50000               # development size, a few minutes
    .venv/bin/python bench/scale.py --n 1000000 --keep      # the real thing (about an hour on 2 cores)
    .venv/bin/python bench/scale.py --reuse --skip-before   # time the pages again on a kept database
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder would shadow the project's packages of the same names (bench/channels.py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from bench._common import pct, record_output, save_results  # noqa: E402

PG_ADMIN = os.environ.get("PETITION_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "scale-bench-2026"
STAFF = {"triage": ("triage", None), "supervisor": ("supervisor", None), "analyst": ("analyst", None),
         "handler.yuelu": ("handler", "YL-GOV"), "handler.hrss": ("handler", "CS-HRSS")}


def _admin_url() -> str:
    return PG_ADMIN.replace("+psycopg", "")


def create_database(name: str) -> str:
    """Drop and recreate the scale database; return its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    """Drop the scale database."""
    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configure(url: str):
    """Configure settings, keys and the database for the bench; return the Database."""
    from core import db as core_db
    from core import security
    from core.settings import Settings
    from core.settings import configure as configure_settings
    from server.models_registry import load_models, load_tasks

    settings = configure_settings(Settings(
        environment="test", database_url=url, broker_url=None, pii_key="scale-bench-pii", secret_key="scale-bench-secret",
        bootstrap_admin_token=None, embedded_scheduler=False, route_on_register=False, risk_on_register=False,
        embedder="lexical", zero_shot=False, classifier_dir="/nonexistent/model", log_level="WARNING"))
    security.configure(settings)
    load_models()
    load_tasks()
    return core_db.configure(settings)


def prepare(db) -> None:
    """Migrate and load the taxonomy, the demo areas and units, and one account per desk."""
    from cases import catalog
    from core.accounts import create_user
    from server.demo import load_reference
    from server.migrate import upgrade

    upgrade(db)
    with db.transaction() as session:
        catalog.load_taxonomy(session)
        load_reference(session)
        for username, (role, unit) in STAFF.items():
            unit_id = catalog.get_unit_by_code(session, unit).id if unit else None
            create_user(session, username=username, password=PASSWORD, role=role, unit_id=unit_id)


def score_risks(db) -> float:
    """Give every petition a risk level in SQL (the importer scores nothing); return the seconds taken."""
    from sqlalchemy import text

    started = time.perf_counter()
    with db.transaction() as session:
        session.execute(text("""
            INSERT INTO petition_risks (petition_id, score, level, reasons, hits, computed_at)
            SELECT id, s, CASE WHEN s >= 0.98 THEN 'red' WHEN s >= 0.92 THEN 'orange' WHEN s >= 0.72 THEN 'yellow'
                               ELSE 'blue' END, '[]', '[]', received_at
            FROM (SELECT id, received_at, ((id * 2654435761) % 1000003) / 1000003.0 AS s FROM petitions) scored
            ON CONFLICT (petition_id) DO NOTHING"""))
    return time.perf_counter() - started


def vacuum(db, tables=("petitions", "petition_risks", "petitioners", "replies", "assignments", "feedbacks")) -> float:
    """VACUUM ANALYZE the big tables (what autovacuum does after a bulk load); return the seconds taken."""
    started = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - started


def migrate(db, direction: str, revision: str) -> float:
    """Upgrade or downgrade the schema to a revision; return the seconds taken."""
    from alembic import command

    from server.migrate import alembic_config

    started = time.perf_counter()
    cfg = alembic_config(db.settings.database_url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)
    return time.perf_counter() - started


def cold_statistics(db) -> float:
    """Time the risk dashboard's hot topics and forecast computed without the cache; return seconds."""
    from admin_web import risk_stats

    risk_stats._CACHE.clear()
    started = time.perf_counter()
    with db.session() as session:
        risk_stats.dashboard_statistics(session, lang="zh")
    return time.perf_counter() - started


def pages(now: datetime, keywords: list[str]) -> list[tuple[str, str, str]]:
    """Return the (name, user, url) of each page timed."""
    from zoneinfo import ZoneInfo

    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    month = (today - timedelta(days=29)).isoformat()
    year = (today - timedelta(days=364)).isoformat()
    out = [
        ("triage queue", "triage", "/console/triage"),
        ("workbench (YL-GOV)", "handler.yuelu", "/console/workbench"),
        ("workbench overdue (CS-HRSS)", "handler.hrss", "/console/workbench?overdue=1"),
        ("supervision boards", "supervisor", "/console/supervision"),
        ("supervision 3 rates, month", "supervisor", "/console/supervision/performance?period=month"),
        ("supervision 3 rates, 1 year", "supervisor",
         f"/console/supervision/performance?period=custom&from={year}&to={today.isoformat()}"),
        ("analyst, no filter", "analyst", "/console/analyst"),
        ("analyst, category", "analyst", "/console/analyst?category=城乡建设"),
        ("analyst, area", "analyst", "/console/analyst?area=430104"),
        ("analyst, channel", "analyst", "/console/analyst?channel=phone"),
        ("analyst, last 30 days", "analyst", f"/console/analyst?from={month}&to={today.isoformat()}"),
        ("analyst, 1 year + channel", "analyst", f"/console/analyst?from={year}&to={today.isoformat()}&channel=wechat"),
        ("analyst, status", "analyst", "/console/analyst?status=in_progress"),
        ("analyst, risk red", "analyst", "/console/analyst?risk=red"),
        ("analyst, page 400", "analyst", "/console/analyst?page=400"),
    ]
    for word in keywords:
        out.append((f"search '{word}'", "analyst", f"/console/analyst?q={word}"))
    out += [
        ("risk dashboard", "supervisor", "/console/risk"),
        ("risk map, 365 days", "supervisor", "/console/risk/map?days=365"),
    ]
    return out


def sign_in(app, username: str):
    """Return a TestClient signed in to the console as username."""
    from fastapi.testclient import TestClient

    client = TestClient(app, raise_server_exceptions=True, follow_redirects=False)
    r = client.post("/console/login", data={"username": username, "password": PASSWORD})
    if r.status_code != 303:
        raise RuntimeError(f"cannot sign in as {username}: {r.status_code}")
    return client


def time_pages(db, requests: int, keywords: list[str], budget_s: float = 60.0, only: str = "") -> dict[str, dict]:
    """Time each page: two warm-up requests, then `requests` timed ones; return p50/p95 (ms), status and size."""
    from server.app import create_app

    app = create_app(db.settings)
    clients = {user: sign_in(app, user) for user in STAFF}
    results = {}
    for name, user, url in pages(datetime.now(UTC), keywords):
        if only not in name:
            continue
        client = clients[user]
        for _ in range(2):
            started = time.perf_counter()
            r = client.get(url)
            warm = time.perf_counter() - started
        if r.status_code != 200:
            raise RuntimeError(f"{name}: {url} answered {r.status_code}: {r.text[:300]}")
        times = []
        # A page that takes seconds gets fewer timed requests (at least 3), so that one run stays within an hour.
        for _ in range(max(3, min(requests, int(budget_s / max(warm, 1e-3))))):
            started = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        results[name] = {"url": url, "n": len(times), "p50_ms": round(pct(times, 50), 1),
                         "p95_ms": round(pct(times, 95), 1), "status": r.status_code, "kb": round(len(r.content) / 1024, 1)}
        print(f"  {name:32s} p50 {results[name]['p50_ms']:8.1f} ms   p95 {results[name]['p95_ms']:8.1f} ms"
              f"   {results[name]['kb']:7.1f} KB   n={len(times)}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    """Run the scale benchmark and print the import rate and the pages' latency."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="petitions to generate and import")
    parser.add_argument("--file", type=Path, help="import this generated file instead of generating one")
    parser.add_argument("--db-name", default="petition_scale")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (after 2 warm-ups)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="time the pages on the kept database, importing nothing")
    parser.add_argument("--skip-before", action="store_true", help="time the pages only with the indexes")
    parser.add_argument("--keywords", default="物业,停车位,拖欠工资,幼儿园", help="comma-separated search words")
    parser.add_argument("--only", default="", help="time only the pages whose name holds this (figures saved apart)")
    args = parser.parse_args(argv)
    printed = record_output()
    keywords = [w for w in args.keywords.split(",") if w]
    figures: dict = {"n": args.n}
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + args.db_name
    if not args.reuse:
        url = create_database(args.db_name)
    db = configure(url)
    try:
        if not args.reuse:
            figures.update(load(db, args))
        figures["rows"] = count_rows(db)
        print(f"petitions in {args.db_name}: {figures['rows']:,}")
        if not args.skip_before:
            migrate(db, "downgrade", "0009")
            vacuum(db)
            print("pages BEFORE migration 0010 (its indexes dropped; the code of this tree):", flush=True)
            figures["before"] = time_pages(db, args.requests, keywords, only=args.only)
            figures["migrate_0010_s"] = round(migrate(db, "upgrade", "head"), 1)
            figures["vacuum_after_0010_s"] = round(vacuum(db), 1)
            print(f"migration 0010 on {figures['rows']:,} petitions: {figures['migrate_0010_s']} s", flush=True)
        print("pages AFTER (migration head):", flush=True)
        figures["after"] = time_pages(db, args.requests, keywords, only=args.only)
        figures["risk_statistics_cold_s"] = round(cold_statistics(db), 2)
        print(f"risk dashboard statistics computed afresh (hot topics of the week + forecast): "
              f"{figures['risk_statistics_cold_s']} s", flush=True)
        table(figures)
        path = save_results("scale_partial" if args.only else "scale", {**figures, "printed": printed()})
        print(f"figures written to {path.relative_to(ROOT)}")
    finally:
        db.dispose()
        if not args.keep:
            drop_database(args.db_name)
            print(f"database {args.db_name} dropped (--keep keeps it)")


def load(db, args) -> dict:
    """Prepare the schema, generate and import the petitions, score risks and vacuum; return the figures."""
    from bench import gen_petitions
    from cases.importing.service import import_file

    out: dict = {}
    prepare(db)
    path = args.file
    if path is None:
        path = Path(tempfile.gettempdir()) / f"scale-{args.n}.jsonl"
        started = time.perf_counter()
        count = gen_petitions.write(gen_petitions.generate(args.n), path)
        out["generate_s"] = round(time.perf_counter() - started, 1)
        print(f"generated {count:,} petitions into {path} ({path.stat().st_size / 2**20:,.0f} MiB) in {out['generate_s']} s")
    try:
        report = import_file(db, path, progress=True)
    finally:
        if args.file is None:
            path.unlink(missing_ok=True)
    print(report.summary())
    out["import"] = {"read": report.read, "imported": report.imported, "skipped": report.skipped,
                     "seconds": round(report.seconds, 1), "rows_per_s": round(report.rate)}
    out["score_risks_s"] = round(score_risks(db), 1)
    out["vacuum_s"] = round(vacuum(db), 1)
    print(f"risk levels in {out['score_risks_s']} s; VACUUM ANALYZE in {out['vacuum_s']} s")
    return out


def count_rows(db) -> int:
    from sqlalchemy import func, select

    from cases.models import Petition

    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Petition))


def table(figures: dict) -> None:
    """Print before/after p95 side by side."""
    after, before = figures.get("after", {}), figures.get("before", {})
    print(f"\n{'page':34s} {'before p50':>11s} {'before p95':>11s} {'after p50':>10s} {'after p95':>10s}")
    for name, a in after.items():
        b = before.get(name)
        print(f"{name:34s} {b['p50_ms'] if b else '-':>11} {b['p95_ms'] if b else '-':>11} {a['p50_ms']:>10} {a['p95_ms']:>10}")


if __name__ == "__main__":
    main()
