"""What keeping the sessions in PostgreSQL instead of SQLite adds to a turn.

Against a throwaway PostgreSQL server on loopback (tests/pgrig.py; tuned for
tests: no fsync, so these figures leave out a real disk's commit) and a SQLite
file in a temp folder (WAL, ``synchronous = NORMAL`` as muxi opens it):

- a turn's store work alone: the user's message, the reply added as
  ``streaming``, 10 updates of its text, the final update, and the run's row
  recorded (one batch through the run writer);
- one whole ``LocalRuntime.chat`` turn against the local fake LLM
  (``tests/fakellm.py``), memory off, on each engine;
- ``muxi serve`` holding concurrent streaming chats (each ~0.5 s, its reply
  written every 0.2 s) on each engine: errors and time to first event. The
  store is synchronous, so its round trips to PostgreSQL are spent on the
  server's event loop.

The difference is the added latency per turn; on a real network each of the
store's round trips also pays the network's.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from benchmarks.bench_turn import FORMATION_EXTRA, _amedian_ms
from benchmarks.common import Result, median_ms, percentile

UPDATES = 10


def _store_turn(store: object, session_id: str) -> None:
    from muxi_cli.stores.sessions import SessionStore

    assert isinstance(store, SessionStore)
    store.add_message(session_id, "user", "what is the weather?")
    reply = store.add_message(session_id, "assistant", "", status="streaming", agent="a")
    text = ""
    for i in range(UPDATES):
        text += f"word{i} "
        store.update_message(reply.id, content=text)
    store.update_message(reply.id, content=text, status="complete", meta={"usage": {}})


def _store_ms(database: Path | str, repeat: int) -> float:
    from muxi_cli.stores.pg_sessions import session_store

    url = database if isinstance(database, str) else None
    path = database if isinstance(database, Path) else Path(tempfile.mkdtemp()) / "s.db"
    store = session_store(path, database_url=url)
    try:
        sid = store.create_session("bench").id
        _store_turn(store, sid)  # opened, migrated, warm
        return median_ms(lambda: _store_turn(store, sid), repeat)
    finally:
        store.close()


async def _turn_ms(formation: Path, database_url: str | None, repeat: int) -> float:
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.runtime.local import LocalRuntime

    runtime = await LocalRuntime.open(
        config_path=formation, start_tools=False, database_url=database_url
    )

    async def turn() -> None:
        last = None
        async for event in (await runtime.chat(ChatRequest(message="hi"))).events():
            last = event
        if last is None or last.type != "run.completed":
            raise RuntimeError(f"turn did not complete: {last}")

    try:
        return await _amedian_ms(turn, repeat)
    finally:
        await runtime.aclose()


def _serve_streams(
    work: Path, config: Path, database_url: str | None, n: int
) -> tuple[int, list[float], float]:
    import re

    from benchmarks.bench_server import _concurrent
    from tests.server.serveproc import ServeProcess

    # A new data folder each time: its first start prints the keys.
    home = work / f"home-{'pg' if database_url else 'sqlite'}-{n}"
    args = ("--rate", "0", *(("--database-url", database_url) if database_url else ()))
    proc = ServeProcess(home, config, args=args).start()
    try:
        keys = re.findall(r"muxi_[0-9a-f]{10}_[A-Za-z0-9_-]{43}", proc.log())
        return asyncio.run(_concurrent(proc.url, keys[-1], n))  # the user key
    finally:
        proc.stop()


def run(quick: bool) -> list[Result]:
    from tests.fakellm import FakeLLM
    from tests.pgrig import PgServer, pg_bin_dir

    if pg_bin_dir() is None:
        return [Result("sessions on PostgreSQL", "SKIPPED", "", note="no PostgreSQL binaries")]
    repeat = 20 if quick else 100
    note = f"median of {repeat}; PostgreSQL on loopback without fsync"
    results: list[Result] = []
    server = PgServer.start()
    saved = {k: os.environ.get(k) for k in ("MUXI_HOME", "MUXI_NO_OLLAMA_PROBE", "LANCEDB_LOG")}
    try:
        with tempfile.TemporaryDirectory(prefix="muxi-bench-pg-") as tmp, FakeLLM() as fake:
            work = Path(tmp)
            os.environ.update(
                MUXI_HOME=str(work / "home"), MUXI_NO_OLLAMA_PROBE="1", LANCEDB_LOG="error"
            )
            lite = _store_ms(work / "store.db", repeat)
            pg = _store_ms(server.create_database(), repeat)
            results += [
                Result("sessions: a turn's store work, SQLite", round(lite, 2), "ms", note=note),
                Result("sessions: a turn's store work, PostgreSQL", round(pg, 2), "ms", note=note),
                Result(
                    "sessions: PostgreSQL minus SQLite per turn (store)",
                    round(pg - lite, 2),
                    "ms",
                    note=f"{UPDATES + 3} writes per turn",
                ),
            ]
            formation = fake.write_formation(
                work, provider="openai", model="fake-model", extra=FORMATION_EXTRA
            )
            turns = repeat // 2
            lite_turn = asyncio.run(_turn_ms(formation, None, turns))
            pg_turn = asyncio.run(_turn_ms(formation, server.create_database(), turns))
            note = f"median of {turns}; LocalRuntime.chat, fake LLM, memory off"
            results += [
                Result("sessions: whole turn, SQLite", round(lite_turn, 2), "ms", note=note),
                Result("sessions: whole turn, PostgreSQL", round(pg_turn, 2), "ms", note=note),
                Result(
                    "sessions: PostgreSQL minus SQLite per turn (whole turn)",
                    round(pg_turn - lite_turn, 2),
                    "ms",
                    note=note,
                ),
            ]
            from tests.fakellm import Slow

            fake.set_default(Slow("one two three four five six seven eight nine ten", delay=0.05))
            (work / "serve").mkdir()
            config = fake.write_formation(work / "serve", extra=FORMATION_EXTRA)
            for n in [50] if quick else [50, 200]:
                for engine, url in (("SQLite", None), ("PostgreSQL", server.create_database())):
                    errors, ttfe, wall = _serve_streams(work, config, url, n)
                    results.append(
                        Result(
                            f"sessions: {n} concurrent streams on {engine}, first event p50/p99",
                            f"{percentile(ttfe, 50) * 1000:.0f}/{percentile(ttfe, 99) * 1000:.0f}",
                            "ms",
                            note=f"{errors} errors, all done in {wall:.1f}s",
                        )
                    )
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return results
