"""The turn-start keys' table (stores/turn_keys.py), on SQLite and PostgreSQL:
one claim wins, a repeat finds the run, keys expire, a start whose holder is gone
is taken over (and only by one claim)."""

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


async def test_keys_expire(target: Path | str) -> None:
    keys = TurnKeys(target, expire=0.0)
    try:
        old = await keys.claim("alice", "k", "fp")
        await keys.started("alice", "k", old.token, "run_1")
        assert (await keys.claim("alice", "k", "other")).won  # expired: a new start
    finally:
        keys.close()


async def test_a_claim_names_its_holder_and_waits_for_it_however_long(
    target: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timer takes a claim without a run (a slow start is not a dead one): a
    later claim finds the holder's claim, named by the holder's boot id."""
    dead, alive = TurnKeys(target, claimant="rep_dead"), TurnKeys(target, claimant="rep_here")
    monkeypatch.setattr(turn_keys, "START_STALE", 0.0, raising=False)  # old code's timer
    try:
        first = await dead.claim("alice", "k", "fp")
        assert first.won and first.holder == "rep_dead"
        again = await alive.claim("alice", "k", "fp")
        assert not again.won and again.token == first.token  # old: taken over at once
        seen = await alive.holder("alice", "k")
        assert seen is not None and seen.holder == "rep_dead"
    finally:
        dead.close()
        alive.close()


async def test_a_claim_whose_holder_is_gone_is_taken_over_once(target: Path | str) -> None:
    dead = TurnKeys(target, claimant="rep_dead")
    stores = [TurnKeys(target, claimant=f"rep_{n}") for n in range(3)]
    try:
        gone = await dead.claim("alice", "k", "fp")
        taken = await asyncio.gather(*(s.take_over("alice", "k", gone.token, "fp") for s in stores))
        winners = [c for c in taken if c is not None and c.won]
        assert len(winners) == 1  # one start, whoever was quickest
        assert all(c is not None and c.token == winners[0].token for c in taken)
        await stores[0].started("alice", "k", winners[0].token, "run_1")
        # A claim that has its run is never taken over (its turn began).
        assert await dead.take_over("alice", "k", winners[0].token, "fp") == (
            await dead.holder("alice", "k")
        )
        assert (await dead.claim("alice", "k", "fp")).run_id == "run_1"
    finally:
        for s in (dead, *stores):
            s.close()


async def test_a_waiting_repeat_reads_who_holds_the_key(
    target: Path | str,
) -> None:
    """``holder`` (the read a waiting repeat polls with) sees a live claim and its
    run, and nothing once the claim is given back or expired."""
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
        await keys.claim("alice", "slow", "fp")
        assert await keys.holder("alice", "slow") is not None  # no run yet: still held
    finally:
        keys.close()
    expired = TurnKeys(target, expire=0.0)
    try:
        assert await expired.holder("alice", "k") is None
    finally:
        expired.close()
