"""Choosing the shared database and connecting to it."""

from __future__ import annotations

import pytest

from muxi_cli.errors import ConfigError, MuxiError
from muxi_cli.stores import pgconn


def test_no_url_means_the_local_sqlite_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pgconn.URL_ENV, raising=False)
    assert pgconn.database_url() is None
    monkeypatch.setenv(pgconn.URL_ENV, "postgresql://u@h/db")
    assert pgconn.database_url() == "postgresql://u@h/db"
    assert pgconn.database_url("postgres://x@y/z") == "postgres://x@y/z"


def test_a_url_of_another_kind_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigError) as err:
        pgconn.database_url("mysql://root:hunter2@db/muxi")
    assert "hunter2" not in str(err.value)
    assert "***" in str(err.value)


def test_connects_and_names_a_server_that_is_not_there(pg_url: str) -> None:
    with pgconn.connect(pg_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    dead = pg_url.replace("postgres@", "postgres:s3cret@").rsplit(":", 1)[0] + ":1/x"
    with pytest.raises(MuxiError) as err:
        pgconn.connect(dead)
    assert "s3cret" not in str(err.value)
    assert "could not connect" in str(err.value)


def test_every_password_form_of_a_url_is_redacted() -> None:
    for url in (
        "postgresql://u:s3cret@h/db",
        "postgresql://:s3cret@h/db",  # no user name
        "postgresql://u:s3@cret@h/db",  # an unencoded "@" in the password
        "postgresql://u@h/db?sslmode=require&password=s3cret",
        "postgresql://u@h/db?PASSWORD=s3cret#x",
        "postgresql://u@h/db?sslpassword=s3cret&sslmode=verify-full",
    ):
        shown = pgconn.redacted(url)
        assert "s3" not in shown and "cret" not in shown and "***" in shown, (url, shown)
    assert pgconn.redacted("postgresql://u:p@h:5432/db?sslmode=require") == (
        "postgresql://u:***@h:5432/db?sslmode=require"
    )
    assert pgconn.redacted("postgresql://u@h/db") == "postgresql://u@h/db"


def test_a_failed_connection_never_shows_a_password_in_the_query(pg_url: str) -> None:
    dead = pg_url.rsplit(":", 1)[0] + ":1/x?password=s3cret&sslpassword=t0psecret"
    with pytest.raises(MuxiError) as err:
        pgconn.connect(dead)
    assert "s3cret" not in str(err.value) and "t0psecret" not in str(err.value)


def test_a_database_that_is_down_or_drops_connections_is_a_503(pg_url: str) -> None:
    import psycopg

    from muxi_cli.stores.pg_sessions import PgSessionStore

    with pytest.raises(MuxiError) as err:
        pgconn.connect(pg_url.rsplit(":", 1)[0] + ":1/x")
    assert err.value.http_status == 503  # retry, here or on another replica: not a bug
    store = PgSessionStore(pg_url)
    try:
        info = store.create_session("ann")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        try:
            store.list_sessions(user_id="ann")
        except MuxiError as exc:
            assert exc.http_status == 503, exc
        assert [s.id for s in store.list_sessions(user_id="ann")] == [info.id]  # reconnected
    finally:
        store.close()
