"""The turn-start keys' table (stores/turn_keys.py), on SQLite and PostgreSQL:
one claim wins, a repeat finds the run, keys expire, a start that died is taken over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from muxi_cli.stores import turn_keys
from muxi_cli.stores.turn_keys import TurnKeys


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    if request.param == "sqlite":
        return tmp_path / "sessions.db"
    url: str = request.getfixturevalue("pg_url")
    return url


async def test_one_claim_wins_and_the_others_find_its_run(target: Path | str) -> None:
    stores = [TurnKeys(target) for _ in range(4)]
    try:
        claims = await asyncio.gather(*(s.claim("alice", "k", "fp") for s in stores))
        winners = [c for c in claims if c.won]
        assert len(winners) == 1
        assert all(c.run_id is None and c.token == winners[0].token for c in claims)
        await stores[0].started("alice", "k", winners[0].token, "run_1")
        again = await stores[1].claim("alice", "k", "fp")
        assert (again.won, again.run_id) == (False, "run_1")
        bob = await stores[2].claim("bob", "k", "fp")  # another user's key is another key
        assert bob.won and bob.run_id is None
    finally:
        for s in stores:
            s.close()


async def test_a_released_claim_lets_a_retry_start(target: Path | str) -> None:
    keys = TurnKeys(target)
    try:
        first = await keys.claim("alice", "k", "fp")
        await keys.release("alice", "k", first.token)
        retry = await keys.claim("alice", "k", "fp")
        assert retry.won and retry.token != first.token
    finally:
        keys.close()


async def test_keys_expire_and_a_stalled_start_is_taken_over(
    target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = TurnKeys(target, expire=0.0)
    try:
        old = await keys.claim("alice", "k", "fp")
        await keys.started("alice", "k", old.token, "run_1")
        assert (await keys.claim("alice", "k", "other")).won  # expired: a new start
    finally:
        keys.close()
    keys = TurnKeys(target)
    monkeypatch.setattr(turn_keys, "START_STALE", 0.0)
    try:
        stalled = await keys.claim("alice", "s", "fp")  # its server died before the run began
        taken = await keys.claim("alice", "s", "fp")
        assert taken.won and taken.token != stalled.token
    finally:
        keys.close()


async def test_a_waiting_repeat_reads_who_holds_the_key(
    target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``holder`` (the read a waiting repeat polls with) sees a live claim and its
    run, and nothing once the claim is given back, stalled or expired."""
    keys = TurnKeys(target)
    try:
        first = await keys.claim("alice", "k", "fp")
        seen = await keys.holder("alice", "k")
        assert seen is not None and not seen.won
        assert (seen.token, seen.fingerprint, seen.run_id) == (first.token, "fp", None)
        assert await keys.holder("bob", "k") is None
        await keys.started("alice", "k", first.token, "run_1")
        seen = await keys.holder("alice", "k")
        assert seen is not None and seen.run_id == "run_1"
        await keys.claim("alice", "gone", "fp")
        await keys.release("alice", "gone", (await keys.claim("alice", "gone", "fp")).token)
        assert await keys.holder("alice", "gone") is None
        monkeypatch.setattr(turn_keys, "START_STALE", 0.0)
        await keys.claim("alice", "stalled", "fp")
        assert await keys.holder("alice", "stalled") is None  # a claim takes it over
        assert await keys.holder("alice", "k") is not None  # it has its run: not stalled
    finally:
        keys.close()
    expired = TurnKeys(target, expire=0.0)
    try:
        assert await expired.holder("alice", "k") is None
    finally:
        expired.close()
