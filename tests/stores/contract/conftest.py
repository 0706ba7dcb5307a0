"""The sessions database's engines, for the contract suite: each test runs on
a new SQLite file and on a new PostgreSQL database (tests/pgrig.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from muxi_cli.stores.sessions import SessionStore

#: Opens another store on the test's database (another process, after a crash...).
Opener = Callable[[], SessionStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The test's empty sessions database: a SQLite path or a PostgreSQL URL."""
    if engine == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "sessions.db"


@pytest.fixture
def open_store(database: Path | str, tmp_path: Path) -> Iterator[Opener]:
    opened: list[SessionStore] = []

    def opener() -> SessionStore:
        if isinstance(database, Path):
            store = SessionStore(database)
        else:
            from muxi_cli.stores.pg_sessions import PgSessionStore

            store = PgSessionStore(database, data_path=tmp_path / "sessions.db")
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Opener) -> SessionStore:
    return open_store()


@pytest.fixture
def search_store(store: SessionStore) -> SessionStore:
    return store
