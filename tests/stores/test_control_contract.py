"""The server's control state behaves the same in its files and in PostgreSQL: keys,
rate limits and the route cache, each case run against both implementations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.core.route_cache import RouteCache
from muxi_cli.core.route_cache_pg import PgRouteCache
from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.server.limits import RateLimiter
from muxi_cli.server.pg_limits import SharedRateLimiter
from muxi_cli.stores.pg_control import PgLink
from muxi_cli.stores.pg_keys import PgKeyStore
from muxi_cli.stores.server_keys import KeyStore

ENGINES = ["file", "postgres"]


@pytest.fixture(params=ENGINES)
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "file":
        yield KeyStore(tmp_path / "keys.json", env_admin_key="")
        return
    store = PgKeyStore(request.getfixturevalue("pg_url"), env_admin_key="")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=ENGINES)
def link(request: pytest.FixtureRequest) -> Iterator[PgLink | None]:
    if request.param == "file":
        yield None
        return
    link = PgLink(request.getfixturevalue("pg_url"))
    try:
        yield link
    finally:
        link.close()


def limiter(link: PgLink | None, rate: float, burst: int) -> Any:
    return RateLimiter(rate, burst) if link is None else SharedRateLimiter(link, "t", rate, burst)


def cache(link: PgLink | None, tmp_path: Path, ttl: float = 60, size: int = 10) -> RouteCache:
    return (
        RouteCache(ttl, size, tmp_path / "routes.db")
        if link is None
        else PgRouteCache(ttl, size, link)
    )


# -- keys ----------------------------------------------------------------------------


def test_keys_made_in_one_millisecond_list_in_the_order_they_were_made(
    keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CI run listed two keys made in the same millisecond in the order of their
    # random ids; freezing the clock makes every key tie.
    import muxi_cli.stores.server_keys as server_keys

    monkeypatch.setattr(server_keys, "now_iso", lambda: "2026-12-07T05:00:00.000Z")
    made = [keys.create("user", f"u{i}")[0].id for i in range(8)]
    assert [r.id for r in keys.records()] == made
    keys.revoke(made[0])  # rewriting a record keeps its place
    assert [r.id for r in keys.records()] == made


def test_keys_create_authenticate_revoke(keys: KeyStore) -> None:
    assert keys.is_empty()
    rec, secret = keys.create("user", "alice", label="laptop", scopes=["agent:support"])
    admin, admin_secret = keys.create("admin", "root")
    who = keys.authenticate(secret)
    assert who is not None and (who.key_id, who.role, who.user_id) == (rec.id, "user", "alice")
    assert who.scopes == ("agent:support",) and keys.authenticate(admin_secret).admin  # type: ignore[union-attr]
    assert [r.id for r in keys.records()] == [rec.id, admin.id]
    shown = keys.records()[0].public_dict()
    assert "hash" not in shown and "salt" not in shown and shown["label"] == "laptop"
    assert keys.revoke(rec.id).revoked_at is not None
    assert keys.revoke(rec.id).revoked_at is not None  # again: still revoked, no error
    assert keys.authenticate(secret) is None and not keys.is_active(rec.id)
    assert keys.is_active(admin.id) and not keys.is_empty()


def test_keys_refuse_what_is_not_theirs(keys: KeyStore) -> None:
    _, secret = keys.create("user", "alice")
    for token in (None, "", "x" * 600, "muxi_nope", "muxi_0000000000_" + "a" * 43, secret + "x"):
        assert keys.authenticate(token) is None
    with pytest.raises(NotFoundError):
        keys.revoke("0000000000")
    with pytest.raises(UsageError):
        keys.create("root", "alice")
    with pytest.raises(UsageError):
        keys.create("user", "no spaces")
    with pytest.raises(UsageError):
        keys.create("admin", "root", scopes=["agent:support"])


def test_keys_bootstrap_once_and_remember_last_use(keys: KeyStore) -> None:
    made = keys.bootstrap("alice")
    assert sorted(r.role for r, _ in made) == ["admin", "user"]
    assert keys.bootstrap("alice") == []
    secret = next(s for r, s in made if r.role == "user")
    assert keys.authenticate(secret) is not None
    keys.flush()
    assert next(r for r in keys.records() if r.role == "user").last_used_at is not None


# -- rate limits ----------------------------------------------------------------------


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait(link: PgLink | None) -> None:
    lim = limiter(link, 0.5, 3)
    assert [lim.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.blocked("other") == 0.0
    wait = lim.take("k")
    assert 0 < wait <= 2.0 and 0 < lim.blocked("k") <= 2.0
    assert lim.take("other") == 0.0


def test_a_disabled_limit_allows_everything(link: PgLink | None) -> None:
    lim = limiter(link, 0, 1)
    assert not lim.enabled and all(lim.take("k") == 0.0 for _ in range(5))


# -- route cache ----------------------------------------------------------------------


def test_the_route_cache_hits_misses_and_forgets(link: PgLink | None, tmp_path: Path) -> None:
    one = cache(link, tmp_path)
    key = RouteCache.key("refund please", None, "fp")
    assert one.get(key) is None
    one.put(key, "support", "refunds")
    assert one.get(key) == ("support", "refunds") and (one.hits, one.misses) == (1, 1)
    other = cache(link, tmp_path)  # another process (file) or replica (database)
    assert other.get(key) == ("support", "refunds")
    one.clear()
    assert cache(link, tmp_path).get(key) is None
    if link is None:
        one.close()
        other.close()


def test_an_expired_route_is_a_miss(link: PgLink | None, tmp_path: Path) -> None:
    expired = cache(link, tmp_path, ttl=-1)
    expired.put("k", "a", "r")
    assert expired.get("k") is None and expired.misses == 1
    if link is None:
        expired.close()
