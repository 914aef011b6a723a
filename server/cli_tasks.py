"""``petition tasks``: durable task records, the dead letters and the sweeper, from the command line."""

from __future__ import annotations

import json

import click


def register(main: click.Group) -> None:
    """Add the ``tasks`` group to the command line."""

    @main.group()
    def tasks() -> None:
        """Durable background tasks: counts, dead letters, retries."""

    @tasks.command("stats")
    def tasks_stats() -> None:
        """Print how many task records are queued, running, done and dead."""
        from core import taskstore
        from server.cli import _db

        with _db().session() as session:
            click.echo(json.dumps(taskstore.counts(session), sort_keys=True))

    @tasks.command("dead")
    @click.option("--limit", default=50, show_default=True)
    def tasks_dead(limit: int) -> None:
        """List the dead letters (tasks that spent their retry budget) with their last error."""
        from core import taskstore
        from server.cli import _db

        with _db().session() as session:
            rows = taskstore.list_dead(session, limit=limit)
            for row in rows:
                click.echo(f"{row.id}\t{row.name}\t{json.dumps(row.kwargs, ensure_ascii=False)}\t"
                           f"attempts={row.attempts}\t{row.finished_at:%Y-%m-%d %H:%M:%S}\t{row.last_error}")
            click.echo(f"{len(rows)} dead task(s)", err=True)

    @tasks.command("retry")
    @click.argument("record_ids", nargs=-1, type=int, required=True)
    def tasks_retry(record_ids: tuple[int, ...]) -> None:
        """Give dead tasks a fresh retry budget and submit them again."""
        from core import taskstore
        from core.tasks import enqueue_record
        from server.cli import _db

        db = _db()
        failed = 0
        for record_id in record_ids:
            try:
                with db.transaction() as session:
                    enqueue_record(session, taskstore.do_requeue(session, record_id=record_id))
                click.echo(f"task record {record_id} queued again")
            except LookupError as exc:
                failed += 1
                click.echo(str(exc), err=True)
        if failed:
            raise SystemExit(1)

    @tasks.command("sweep")
    def tasks_sweep() -> None:
        """Resubmit tasks whose message was lost, now (the scheduler does this every minute)."""
        from core.tasks import sweep_tasks
        from server.cli import _db

        _db()
        click.echo(json.dumps(sweep_tasks()))
