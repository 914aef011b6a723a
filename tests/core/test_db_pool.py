"""The PostgreSQL connection pool takes its size from the settings and refuses, after the timeout, beyond it."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.db import Database
from core.settings import Settings
from tests.conftest import empty_database


def test_the_pool_holds_size_plus_overflow_connections_and_then_times_out(tmp_path):
    with empty_database("postgresql", tmp_path) as url:
        database = Database(Settings(environment="test", database_url=url, database_pool_size=2, database_max_overflow=1,
                                     database_pool_timeout_s=0.5))
        try:
            held = [database.engine.connect() for _ in range(3)]
            assert database.engine.pool.checkedout() == 3
            started = time.monotonic()
            with pytest.raises(PoolTimeout):
                database.engine.connect()
            assert 0.4 < time.monotonic() - started < 5
            for connection in held:
                connection.close()
            # Past the pool's size, returned connections are closed, not kept.
            assert database.engine.pool.checkedin() == 2
        finally:
            database.engine.dispose()
