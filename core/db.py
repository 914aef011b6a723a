"""Database engine, sessions, the declarative base and column types shared by all packages."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core.settings import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime stored in UTC; SQLite keeps no offset, so it is restored on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert_for(session: Session):
    """Return the dialect's INSERT construct, which knows ON CONFLICT (PostgreSQL and SQLite both do)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Autocommit at the driver level so that SQLAlchemy's "begin" event below decides how a
    # transaction starts: BEGIN IMMEDIATE takes the write lock up front, which serialises writers
    # instead of failing later with "database is locked" on a read-then-write upgrade.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(settings: Settings) -> Engine:
    """Create the engine for the configured database URL."""
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=settings.database_echo, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        echo=settings.database_echo,
        pool_pre_ping=True,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_s,
        connect_args={"connect_timeout": 5} if url.startswith("postgresql") else {},
    )


class Database:
    """An engine and its session factory."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = make_engine(settings)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """Open a new session; the caller owns its transaction."""
        return self.sessionmaker()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session whose transaction commits on success and rolls back on error."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        """Run a trivial query; raises when the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


_database: Database | None = None


def configure(settings: Settings) -> Database:
    """Make a database for these settings the process-wide one (tasks and the CLI use it)."""
    global _database
    if _database is not None and _database.settings.database_url != settings.database_url:
        _database.dispose()
    if _database is None or _database.settings is not settings:
        _database = Database(settings)
    return _database


def get_database() -> Database:
    """Return the process-wide database, configuring it from the environment if needed."""
    if _database is None:
        from core.settings import get_settings

        return configure(get_settings())
    return _database
