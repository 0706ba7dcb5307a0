"""The PostgreSQL rig itself: a server that answers, and a database per test."""

from __future__ import annotations

import psycopg

from tests.pgrig import PgServer


def test_each_test_gets_an_empty_database(pg_server: PgServer, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE t (x int)")
    assert pg_url.rsplit("/", 1)[1] in pg_server.databases
