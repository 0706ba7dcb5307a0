"""Pending tool approvals: the turn waits, a front end answers via ``Runtime.approve``."""

from __future__ import annotations

import asyncio
from typing import Literal

from muxi_cli.errors import NotFoundError, UsageError

Answer = Literal["allow", "always", "deny"]
ANSWERS: tuple[str, ...] = ("allow", "always", "deny")


class ApprovalBroker:
    """Maps a tool call id to the future its turn is waiting on."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[Answer]] = {}

    def open(self, call_id: str) -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        return future

    def close(self, call_id: str) -> None:
        future = self._pending.pop(call_id, None)
        if future is not None and not future.done():
            future.cancel()

    def pending(self) -> list[str]:
        return [k for k, f in self._pending.items() if not f.done()]

    def answer(self, call_id: str, decision: str) -> None:
        if decision not in ANSWERS:
            raise UsageError(
                f"unknown approval decision {decision!r}", hint="use one of: allow, always, deny"
            )
        future = self._pending.get(call_id)
        if future is None or future.done():
            raise NotFoundError(
                f"no tool call {call_id!r} is waiting for approval",
                hint="approvals answer a tool.approval event whose decision is 'pending'",
            )
        future.set_result(decision)  # type: ignore[arg-type]
