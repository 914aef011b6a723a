"""``petition import``: bulk-load historical petitions from CSV or JSONL files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

COLUMNS_HELP = (
    "Columns (CSV header or JSON keys; Chinese headings such as 留言主题, 留言详情, 留言时间, 答复意见 are read too): "
    "content (required), received_at (required), title, tracking_no, source_id, channel, language, category "
    "(code, name or path), area (code or name), address, head_count, demand, occurred_on, unit (code or name), "
    "status, accepted_at, closed_at, petitioner_name, petitioner_phone, petitioner_id_number, reply_text, reply_at, "
    "satisfied. Times without an offset are local (PETITION_TIMEZONE)."
)


@click.command("import", help="Bulk-load historical petitions from CSV or JSONL files.\n\n" + COLUMNS_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None,
              help="file format (default: by extension)")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV of skipped rows with line and reason (default: FILE.rejects.csv next to each file)")
@click.option("--dry-run", is_flag=True, help="check every row and report, but write nothing")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--actor", default="import", show_default=True, help="name recorded in the audit log")
@click.option("--audit-each", is_flag=True, help="one audit event per petition instead of one per batch")
@click.option("--progress/--no-progress", default=None, help="progress bar on stderr (default: when a terminal)")
def import_(files: tuple[Path, ...], fmt: str | None, rejects_path: Path | None, dry_run: bool, batch_size: int,
            actor: str, audit_each: bool, progress: bool | None) -> None:
    """Import each file; exit 0 when any row was imported (or already was), 1 when none was."""
    from cases.importing.service import FileRefused, import_file, write_rejects
    from server.cli import _db

    db = _db()
    loaded = 0
    shared_written = False
    for path in files:
        try:
            report = import_file(db, path, fmt=fmt, actor=actor, batch_size=batch_size, dry_run=dry_run,
                                 audit_each=audit_each,
                                 progress=progress if progress is not None else (None if sys.stderr.isatty() else False))
        except FileRefused as exc:
            click.echo(f"{path}: {exc}", err=True)
            continue
        target = rejects_path or path.with_name(path.name + ".rejects.csv")
        write_rejects(target, report.rejects, append=rejects_path is not None and shared_written)
        shared_written = shared_written or rejects_path is not None
        click.echo(report.summary(str(target)))
        if report.ignored_columns:
            click.echo(f"{path}: ignored unknown columns: {', '.join(report.ignored_columns)}", err=True)
        loaded += report.imported + report.already
    sys.exit(0 if loaded else 1)


def register(group: click.Group) -> None:
    """Add the import command to the petition command group."""
    group.add_command(import_)
