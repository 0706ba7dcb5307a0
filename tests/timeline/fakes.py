"""``Runtime.timeline`` for the in-memory fakes: one turn per stored user message."""

from __future__ import annotations

from muxi_cli.protocol.records import SessionMessage
from muxi_cli.protocol.timeline import TimelineTurn


def turns_of(messages: list[SessionMessage]) -> list[TimelineTurn]:
    """A completed turn per user message, answered by the next reply's agent
    (whose run id it takes when the user message has none)."""
    turns: list[TimelineTurn] = []
    for msg in messages:
        if msg.role == "user":
            turns.append(
                TimelineTurn(
                    run_id=msg.run_id or "",
                    started_at=msg.created_at,
                    message=msg.content.splitlines()[0] if msg.content else None,
                )
            )
        elif msg.role == "assistant" and turns and not turns[-1].agent:
            turns[-1].agent = msg.agent or ""
            turns[-1].run_id = turns[-1].run_id or msg.run_id or ""
            turns[-1].status = "completed" if msg.status == "complete" else msg.status
    for n, turn in enumerate(turns):
        turn.run_id = turn.run_id or f"run_unanswered_{n}"
    return turns
