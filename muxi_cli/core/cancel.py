"""Why a running turn was stopped, and how a stopped turn is recorded.

A turn is stopped by cancelling its asyncio task, for whatever reason (Esc,
Ctrl-C, a cancel over ``muxi serve``, a client gone, ``turn_timeout``). The
task that runs a turn sets :data:`STOP_REASON` to a mutable holder; whoever
stops it for a reason other than a plain cancel (the turn timeout) writes the
reason there first, so the agent loop stores it with the turn.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal

StopReason = Literal["cancelled", "timeout"]

#: Status of the assistant rows of a turn that was stopped before it finished.
CANCELLED = "cancelled"

#: Holder of the stop reason of the turn running in this context (see module doc).
STOP_REASON: ContextVar[dict[str, StopReason] | None] = ContextVar("muxi_stop_reason", default=None)


def stop_reason() -> StopReason:
    holder = STOP_REASON.get()
    return holder.get("reason", "cancelled") if holder is not None else "cancelled"


def cancelled_tool_result(reason: str) -> str:
    """The result a tool call gets when its turn stopped before it returned."""
    if reason == "timeout":
        return "Not finished: the request timed out (turn_timeout) before this tool returned."
    if reason == "interrupted":
        return "Not finished: muxi stopped before this tool returned; it gave no result."
    return "Cancelled by the user before this tool returned; it gave no result."
