"""Replies cut off by a lost replica: only those no live replica or process writes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Iterator

import pytest

from muxi_cli.server.cluster import Cluster
from muxi_cli.server.runs import RunRegistry
from muxi_cli.stores.pg_control import PgLink
from muxi_cli.stores.pg_recovery import reap_dead_replicas, recover_interrupted

# The columns of the session store's tables these queries use (stores/pg_schema.py).
SESSIONS_TABLES = """
CREATE TABLE messages (id BIGINT PRIMARY KEY, run_id TEXT, content TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL, updated_at TEXT NOT NULL, writer TEXT);
CREATE TABLE run_streams (run_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,
    session_id TEXT NOT NULL DEFAULT '', replica TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL, done_at TEXT);
CREATE TABLE run_events (run_id TEXT NOT NULL, seq BIGINT NOT NULL, event TEXT NOT NULL,
    at TEXT NOT NULL, PRIMARY KEY (run_id, seq));
"""
OLD = "2000-01-01T00:00:00.000000Z"
NEW = "2999-01-01T00:00:00.000000Z"


@pytest.fixture
def link(pg_url: str) -> Iterator[PgLink]:
    link = PgLink(pg_url)
    link.execute(SESSIONS_TABLES)
    try:
        yield link
    finally:
        link.close()


def _replica(link: PgLink, rid: str, *, dead: bool, beat_s: float = 5.0) -> None:
    ago = "interval '1 hour'" if dead else "interval '0'"
    link.execute(
        f"INSERT INTO replicas (id, heartbeat_at, beat_s) VALUES (%s, now() - {ago}, %s)",
        (rid, beat_s),
    )


def _run(
    link: PgLink, run_id: str, rid: str, msg_id: int, updated: str = OLD, writer: str | None = None
) -> None:
    link.execute(
        "INSERT INTO live_runs (run_id, replica_id, user_id, session_id) VALUES (%s, %s, 'u', 's')",
        (run_id, rid),
    )
    _message(link, msg_id, run_id, updated, writer)


def _message(
    link: PgLink, msg_id: int, run_id: str, updated: str = OLD, writer: str | None = None
) -> None:
    link.execute(
        "INSERT INTO messages VALUES (%s, %s, 'partial reply', 'streaming', %s, %s)",
        (msg_id, run_id, updated, writer),
    )


def _status(link: PgLink) -> dict[int, str]:
    return {int(r[0]): str(r[1]) for r in link.execute("SELECT id, status FROM messages")}


def test_a_starting_replica_leaves_the_live_ones_replies_alone(link: PgLink) -> None:
    _replica(link, "rep_live", dead=False)
    _replica(link, "rep_dead", dead=True)
    _run(link, "run_live", "rep_live", 1)  # another replica is writing it
    _run(link, "run_dead", "rep_dead", 2)  # its replica stopped beating
    _message(link, 3, "run_gone")  # no replica runs it (a crash before the registry)
    _message(link, 4, "run_fresh", NEW)  # just started: its run is filed a moment later
    here = f"{socket.gethostname()}:{os.getppid()}"
    _message(link, 5, "run_cli", OLD, here)  # a live process of this machine writes it
    _message(link, 6, "run_mine")  # this store's own
    assert recover_interrupted(link, live=[6]) == 2
    assert _status(link) == {
        1: "streaming",
        2: "interrupted",
        3: "interrupted",
        4: "streaming",
        5: "streaming",
        6: "streaming",
    }
    assert link.execute("SELECT content FROM messages WHERE id = 2") == [("partial reply",)]


def test_a_dead_replicas_turns_fail_once_with_a_clear_error(link: PgLink) -> None:
    _replica(link, "rep_live", dead=False)
    _replica(link, "rep_dead", dead=True)
    _run(link, "run_a", "rep_dead", 1, NEW)
    _run(link, "run_b", "rep_live", 2, NEW)
    link.execute(
        "INSERT INTO pending_approvals (call_id, run_id, turn_run_id, user_id, replica_id) "
        "VALUES ('call_1', 'run_a', 'run_a', 'u', 'rep_dead')"
    )
    for rid, run in (("rep_dead", "run_a"), ("rep_live", "run_b")):
        link.execute(
            "INSERT INTO pending_elicitations (elicitation_id, turn_run_id, user_id, replica_id) "
            "VALUES (%s, %s, 'u', %s)",
            (f"eli_{run}", run, rid),
        )
    # A long message between replicas nobody took for an hour, and one just sent.
    link.execute(
        "INSERT INTO cluster_messages (id, body, sent_at) VALUES "
        "('msg_old', '{}', now() - interval '1 hour'), ('msg_new', '{}', now())"
    )
    link.execute("INSERT INTO run_streams VALUES ('run_a', 'u', 's', 'rep_dead', %s, NULL)", (OLD,))
    for seq in (1, 2):
        link.execute("INSERT INTO run_events VALUES ('run_a', %s, '{}', %s)", (seq, OLD))
    assert reap_dead_replicas(link, "rep_live") == ["run_a"]
    assert reap_dead_replicas(link, "rep_live") == []  # claimed once
    assert _status(link) == {1: "interrupted", 2: "streaming"}
    assert link.execute("SELECT id FROM replicas") == [("rep_live",)]
    assert link.execute("SELECT run_id FROM live_runs") == [("run_b",)]
    assert link.execute("SELECT count(*) FROM pending_approvals") == [(0,)]
    assert link.execute("SELECT turn_run_id FROM pending_elicitations") == [("run_b",)]
    assert link.execute("SELECT id FROM cluster_messages") == [("msg_new",)]
    ((seq, event),) = link.execute("SELECT seq, event FROM run_events WHERE seq > 2")
    failed = json.loads(event)
    assert seq == 3 and failed["type"] == "run.failed"
    assert failed["error"]["code"] == "replica_lost" and failed["run_id"] == "run_a"
    assert link.execute("SELECT done_at IS NOT NULL FROM run_streams") == [(True,)]


def test_without_the_sessions_tables_only_the_control_rows_go(pg_url: str) -> None:
    link = PgLink(pg_url)
    try:
        _replica(link, "rep_dead", dead=True)
        link.execute(
            "INSERT INTO live_runs (run_id, replica_id, user_id, session_id) "
            "VALUES ('run_a', 'rep_dead', 'u', 's')"
        )
        assert recover_interrupted(link) == 0
        assert reap_dead_replicas(link, "rep_me") == ["run_a"]
    finally:
        link.close()


async def test_a_running_replica_reaps_a_silent_one(link: PgLink) -> None:
    _replica(link, "rep_dead", dead=False, beat_s=0.1)  # beats fast, and stops
    _run(link, "run_a", "rep_dead", 1, NEW)
    cluster = Cluster(link.url, RunRegistry(), heartbeat=0.05)
    await cluster.join()
    try:
        assert _status(link) == {1: "streaming"}  # alive when we joined
        for _ in range(100):
            if _status(link)[1] == "interrupted":
                break
            await asyncio.sleep(0.05)
        assert _status(link) == {1: "interrupted"}
        ids = {r[0] for r in link.execute("SELECT id FROM replicas")}
        assert ids == {cluster.replica_id}  # it beats on
    finally:
        await cluster.leave()
    assert link.execute("SELECT count(*) FROM replicas") == [(0,)]


def test_the_session_store_may_pass_its_url(link: PgLink) -> None:
    _message(link, 1, "run_gone")
    assert recover_interrupted(link.url) == 1


def test_each_replica_is_judged_by_its_own_heartbeat(link: PgLink) -> None:
    link.execute(
        "INSERT INTO replicas (id, heartbeat_at, beat_s) VALUES "
        "('rep_slow', now() - interval '30 seconds', 10), "  # 3 beats late: alive
        "('rep_fast', now() - interval '30 seconds', 5)"  # 6 beats late: gone
    )
    reap_dead_replicas(link, "rep_me")
    assert link.execute("SELECT id FROM replicas") == [("rep_slow",)]


def test_the_heartbeat_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from muxi_cli.errors import ConfigError
    from muxi_cli.server.cluster import HEARTBEAT
    from muxi_cli.server.cluster_join import HEARTBEAT_ENV, heartbeat

    monkeypatch.delenv(HEARTBEAT_ENV, raising=False)
    assert heartbeat() == HEARTBEAT
    monkeypatch.setenv(HEARTBEAT_ENV, "0.5")
    assert heartbeat() == 0.5
    for bad in ("soon", "0", "1000"):
        monkeypatch.setenv(HEARTBEAT_ENV, bad)
        with pytest.raises(ConfigError):
            heartbeat()


async def test_a_replica_taken_for_gone_files_its_turns_again(link: PgLink) -> None:
    from tests.server.fakeruntime import FakeRuntime, Script

    registry = RunRegistry()
    cluster = Cluster(link.url, registry, heartbeat=0.05)
    await cluster.join()
    registry.cluster = cluster
    runtime = FakeRuntime()
    hold = asyncio.Event()
    runtime.script(Script(text="held here", hold=hold))
    from muxi_cli.protocol.records import ChatRequest

    running = await registry.start(runtime, ChatRequest(message="go", user_id="alice"))
    # The fake turn asks no questions: say it waits for the user's answer to one.
    running.turn._inner.inputs = lambda: ["eli_1"]  # type: ignore[attr-defined]
    try:
        # Another replica took it for gone (a long pause) and claimed its rows.
        link.execute("DELETE FROM replicas")
        link.execute("DELETE FROM live_runs")
        for _ in range(100):
            if link.execute("SELECT 1 FROM pending_elicitations"):
                break
            await asyncio.sleep(0.05)
        assert link.execute("SELECT run_id, replica_id FROM live_runs") == [
            (running.run_id, cluster.replica_id)
        ]
        assert link.execute(
            "SELECT elicitation_id, turn_run_id, user_id, replica_id FROM pending_elicitations"
        ) == [("eli_1", running.run_id, "alice", cluster.replica_id)]
    finally:
        hold.set()
        await registry.finish(running)
        await cluster.leave()
    assert link.execute("SELECT count(*) FROM live_runs") == [(0,)]
    assert link.execute("SELECT count(*) FROM pending_elicitations") == [(0,)]
