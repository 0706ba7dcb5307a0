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
