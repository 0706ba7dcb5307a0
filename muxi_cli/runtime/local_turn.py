"""A turn of a :class:`~muxi_cli.runtime.local.LocalRuntime`, with its timeout."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from muxi_cli.core.cancel import STOP_REASON, StopReason
from muxi_cli.errors import TurnTimeoutError
from muxi_cli.protocol.events import Event
from muxi_cli.runtime.turns import TaskTurn, failure_event

if TYPE_CHECKING:
    from muxi_cli.runtime.local import LocalRuntime

log = logging.getLogger("muxi.runtime")


def note_warm_up(task: asyncio.Task[None]) -> None:
    """Log how a warm-up failed (and so mark its exception seen, whoever waited)."""
    if not task.cancelled() and task.exception() is not None:
        log.info("warm-up failed (the first turn reports it): %s", task.exception())


class LocalTurn(TaskTurn):
    """A turn of the in-process orchestrator, stopped by ``turn_timeout`` too.

    The turn timeout cancels the task like any cancel, after noting why (see
    :mod:`muxi_cli.core.cancel`), so the stopped turn is stored (and shown to
    the model later) as timed out.
    """

    def __init__(
        self, runtime: LocalRuntime, run_id: str, session_id: str, source: AsyncIterator[Event]
    ) -> None:
        self._runtime = runtime
        self._timeout = runtime.formation.turn_timeout
        self._holder: dict[str, StopReason] = {}
        super().__init__(run_id, session_id, source, runtime._answer, runtime.tap)

    async def _answer_input(
        self, run_id: str, elicitation_id: str, action: str, content: dict[str, Any] | None
    ) -> None:
        self._runtime.approvals.answer_input(elicitation_id, action, content, run_id)

    async def _produce(self) -> None:
        STOP_REASON.set(self._holder)

        def expire() -> None:
            self._holder["reason"] = "timeout"
            self.task.cancel()

        timer = asyncio.get_running_loop().call_later(self._timeout, expire)
        try:
            await super()._produce()
        finally:
            timer.cancel()

    def stopped(self, exc: BaseException) -> Event:
        if self._holder.get("reason") != "timeout":
            return super().stopped(exc)
        error = TurnTimeoutError(
            f"the turn took longer than {self._timeout:g} s",
            hint="raise turn_timeout in muxi.yaml; what was said so far is saved",
        )
        return failure_event(self.run_id, self.session_id, error)
