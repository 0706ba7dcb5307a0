"""The WebSocket's ``resume`` frame: follow a run's events again on a new connection.

``{"type": "resume", "run_id": "...", "after": N}`` answers the run's event
frames numbered above ``N`` (each event frame of a turn carries its number as
``seq``, the SSE ``id``), then each new one until the run ends, then ``done``:
what ``GET /v1/runs/{id}/events`` does over HTTP. The run may be held by this
process (the socket follows it like the one that started it: approvals and
cancels work) or by another replica sharing the database (read from its log).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import UsageError
from muxi_cli.server.chat import resume_source

if TYPE_CHECKING:
    from muxi_cli.server.ws import Session


def resume_args(frame: dict[str, Any]) -> tuple[str, int]:
    run_id = frame.get("run_id")
    after = frame.get("after", 0)
    if not isinstance(run_id, str) or not run_id:
        raise UsageError("resume needs the run_id of the turn to follow")
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise UsageError("after must be the number (seq) of the last event read, or 0")
    return run_id, after


async def start_resume(session: Session, frame: dict[str, Any]) -> Any:
    """Check the frame and the caller's right to the run; the coroutine that follows it."""
    run_id, after = resume_args(frame)
    return await follow_run(session, run_id, after)


async def follow_run(session: Session, run_id: str, after: int) -> Any:
    """The coroutine that sends the run's event frames above ``after``, then ``done``
    (a ``resume`` frame, or a ``chat`` frame repeating an idempotency key)."""
    assert session.caller is not None
    running, frames, session_id = await resume_source(session.ctx, session.caller, run_id, after)
    registry = session.ctx.registry

    async def follow() -> None:
        if running is not None:
            session.turn = running
            registry.attach(running)
        try:
            with session.ctx.streaming("websocket"):
                async for seq, data in frames:
                    await session.send({**json.loads(data), "seq": seq})
                    if session.closed:
                        break
        finally:
            if running is not None:
                registry.detach(running)
        await session.send({"type": "done", "run_id": run_id, "session_id": session_id})

    return follow()
