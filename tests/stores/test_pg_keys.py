"""The server's keys in PostgreSQL: what one replica writes, every other one sees."""

from __future__ import annotations

import threading

import pytest

from muxi_cli.errors import ConfigError, NotFoundError
from muxi_cli.stores import pgconn
from muxi_cli.stores.pg_control import MIGRATIONS, DatabaseUnavailable, migrate
from muxi_cli.stores.pg_keys import PgKeyStore, key_store
from muxi_cli.stores.server_keys import KeyStore


def test_two_replicas_share_keys_and_revocations(pg_url: str) -> None:
    a, b = PgKeyStore(pg_url, env_admin_key=""), PgKeyStore(pg_url, env_admin_key="")
    try:
        rec, secret = a.create("user", "alice", label="laptop", scopes=["agent:support"])
        seen = b.authenticate(secret)
        assert seen is not None and (seen.user_id, seen.role, seen.scopes) == (
            "alice",
            "user",
            ("agent:support",),
        )
        assert [r.id for r in b.records()] == [rec.id] and b.is_active(rec.id)
        assert b.authenticate(secret[:-1] + ("x" if secret[-1] != "x" else "y")) is None
        assert b.revoke(rec.id).revoked_at is not None
        # The other replica refuses it on its very next lookup.
        assert a.authenticate(secret) is None and not a.is_active(rec.id)
        assert a.records()[0].public_dict()["active"] is False
        with pytest.raises(NotFoundError):
            a.revoke("0000000000")
    finally:
        a.close()
        b.close()


def test_last_use_is_written_back(pg_url: str) -> None:
    a = PgKeyStore(pg_url, env_admin_key="")
    try:
        _, secret = a.create("user", "alice")
        assert a.authenticate(secret) is not None
        a.flush()
        other = PgKeyStore(pg_url, env_admin_key="")
        assert other.records()[0].last_used_at is not None
        other.close()
    finally:
        a.close()


def test_replicas_starting_together_bootstrap_once(pg_url: str) -> None:
    stores = [PgKeyStore(pg_url, env_admin_key="") for _ in range(3)]
    made: list[int] = []

    def boot(store: PgKeyStore) -> None:
        made.append(len(store.bootstrap("alice")))

    threads = [threading.Thread(target=boot, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert sorted(made) == [0, 0, 2]
        assert sorted(r.role for r in stores[0].records()) == ["admin", "user"]
    finally:
        for s in stores:
            s.close()


def test_the_url_chooses_the_store(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pgconn.URL_ENV, raising=False)
    assert type(key_store(env_admin_key="")) is KeyStore
    monkeypatch.setenv(pgconn.URL_ENV, pg_url)
    store = key_store(env_admin_key="")
    assert isinstance(store, PgKeyStore) and "***" not in repr(store)


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    conn = pgconn.connect(pg_url)
    try:
        assert migrate(conn) == len(MIGRATIONS)
        assert migrate(conn) == len(MIGRATIONS)  # idempotent
        conn.execute("INSERT INTO muxi_control_version VALUES (%s)", (len(MIGRATIONS) + 1,))
        with pytest.raises(ConfigError, match="newer than this muxi"):
            migrate(conn)
    finally:
        conn.close()


def test_an_unreachable_database_is_a_503_not_a_crash() -> None:
    store = PgKeyStore("postgresql://muxi:secret@127.0.0.1:9/none", env_admin_key="")
    with pytest.raises(DatabaseUnavailable) as caught:
        store.authenticate("muxi_0123456789_" + "x" * 43)
    assert caught.value.http_status == 503 and "secret" not in caught.value.message


def test_a_dropped_connection_is_replaced(pg_url: str) -> None:
    store = PgKeyStore(pg_url, env_admin_key="")
    admin = pgconn.connect(pg_url)
    try:
        _, secret = store.create("user", "alice")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert store.authenticate(secret) is not None  # reopened once, not an error
    finally:
        admin.close()
        store.close()
