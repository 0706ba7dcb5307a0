"""The per-run event log (stores/run_events.py) on both engines (conftest.py:
``database`` is a SQLite file or a PostgreSQL database): what one replica
records, another reads, in order, with the run's owner and end."""

from __future__ import annotations

from pathlib import Path

from muxi_cli.stores.run_events import SQLiteEventLog


async def test_a_run_recorded_by_one_log_is_read_by_another(database: Path | str) -> None:
    writer, reader = SQLiteEventLog(database, linger=0.0), SQLiteEventLog(database)
    try:
        writer.open_run("r1", "ann", "s_1", "rep_a")
        writer.append("r1", 1, '{"type": "run.started"}', False)
        writer.append("r1", 2, '{"type": "text.delta", "text": "50% off?"}', False)
        await writer.flush()
        info = await reader.run("r1")
        assert info is not None and (info.user_id, info.session_id, info.done) == (
            "ann", "s_1", False,
        )  # fmt: skip
        writer.open_run("r1", "ann", "s_1", "rep_a")  # opened twice: the first stays
        writer.append("r1", 2, '{"type": "text.delta", "text": "50% off?"}', False)  # again
        writer.append("r1", 3, '{"type": "run.completed"}', True)
        await writer.flush()
        assert await reader.read("r1", 0) == [
            (1, '{"type": "run.started"}'),
            (2, '{"type": "text.delta", "text": "50% off?"}'),
            (3, '{"type": "run.completed"}'),
        ]
        assert [seq for seq, _ in await reader.read("r1", 2)] == [3]
        done = await reader.run("r1")
        assert done is not None and done.done
        assert await reader.run("r_unknown") is None
    finally:
        await writer.aclose()
        await reader.aclose()


async def test_events_written_while_the_database_drops_connections_are_not_lost(
    pg_url: str,
) -> None:
    import psycopg

    writer, reader = SQLiteEventLog(pg_url, linger=0.0), SQLiteEventLog(pg_url)
    try:
        writer.open_run("r1", "ann", "s_1", "rep_a")
        await writer.flush()
        assert await reader.run("r1") is not None
        # The database restarts (or a proxy drops idle connections): the writer's
        # connection is gone; the next batches go on a new one instead of being dropped.
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        writer.open_run("r2", "ann", "s_1", "rep_a")
        await writer.flush()
        writer.append("r2", 1, '{"type": "run.started"}', False)
        await writer.flush()
        writer.append("r2", 2, '{"type": "run.completed"}', True)
        await writer.flush()
        info = await reader.run("r2")
        assert info is not None and info.done
        assert [seq for seq, _ in await reader.read("r2", 0)] == [1, 2]
    finally:
        await writer.aclose()
        await reader.aclose()
