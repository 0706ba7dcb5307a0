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
