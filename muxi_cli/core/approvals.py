"""Pending tool approvals: the turn waits on a future, ``Turn.approve`` resolves it.

Pending calls are keyed by run and call id: providers choose the call ids and
some repeat them (``call_0`` in every answer), so a call id alone can name the
calls of several turns, even of several users.
"""

from __future__ import annotations

import asyncio

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.protocol.records import APPROVAL_DECISIONS, ApprovalDecision

Answer = ApprovalDecision
ANSWERS: tuple[str, ...] = APPROVAL_DECISIONS
Key = tuple[str, str]  # (run id, call id)


class ApprovalBroker:
    """Maps (run id, tool call id) to the future its turn is waiting on."""

    def __init__(self) -> None:
        self._pending: dict[Key, asyncio.Future[Answer]] = {}

    def open(self, call_id: str, run_id: str = "") -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[(run_id, call_id)] = future
        return future

    def close(self, call_id: str, run_id: str = "") -> None:
        future = self._pending.pop((run_id, call_id), None)
        if future is not None and not future.done():
            future.cancel()

    def pending(self) -> list[str]:
        return [call for (_run, call), f in self._pending.items() if not f.done()]

    def answer(self, call_id: str, decision: str, run_id: str | None = None) -> None:
        """Decide a pending call; without ``run_id`` the call id must be unambiguous."""
        if decision not in ANSWERS:
            raise UsageError(
                f"unknown approval decision {decision!r}", hint=f"use one of: {', '.join(ANSWERS)}"
            )
        waiting = [
            f
            for (run, call), f in self._pending.items()
            if call == call_id and (run_id is None or run == run_id) and not f.done()
        ]
        if not waiting:
            raise NotFoundError(
                f"no tool call {call_id!r} is waiting for approval",
                hint="approvals answer a tool.approval event whose decision is 'pending'",
            )
        if len(waiting) > 1:
            raise UsageError(
                f"several turns wait for a tool call {call_id!r}",
                hint="give the run id of the tool.approval event too",
            )
        waiting[0].set_result(decision)  # type: ignore[arg-type]
