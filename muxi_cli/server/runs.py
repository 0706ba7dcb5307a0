"""The turns a server is running: who owns them, and draining on shutdown.

Every turn the server runs is started through :meth:`RunRegistry.start`, which
asks the runtime for a :class:`~muxi_cli.protocol.turn.Turn` and files it under
its run id with the user who owns it, so ``/v1/approvals`` and
``/v1/runs/{id}/cancel`` (from any connection) can check ownership and then
steer the Turn itself. Which calls wait for an approval is the Turn's to know
(:meth:`Turn.pending`); the registry keeps no copy of it.

The route that started a turn reads its events directly (one pump: the
runtime's) and calls :meth:`RunRegistry.finish` when it is done with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from muxi_cli.core.approvals import the_one_call
from muxi_cli.errors import MuxiError, NotFoundError

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ApprovalDecision, ChatRequest
    from muxi_cli.protocol.turn import CallKey, Turn
    from muxi_cli.runtime.base import Runtime
    from muxi_cli.server.cluster import Cluster


class TurnCancelled(MuxiError):
    code = "cancelled"
    http_status = 499


class Draining(MuxiError):
    code = "shutting_down"
    http_status = 503


@dataclass(slots=True, eq=False)
class Running:
    """One running turn, as the server holds it."""

    turn: Turn
    user_id: str
    #: Set when the server stopped the turn (key revoked, shutdown): the turn's
    #: closing failure is reported as this error instead of a plain cancel.
    stopped_by: MuxiError | None = None

    @property
    def run_id(self) -> str:
        return self.turn.run_id

    @property
    def session_id(self) -> str:
        return self.turn.session_id

    async def stop(self, reason: MuxiError) -> None:
        self.stopped_by = reason
        await self.turn.cancel()


class RunRegistry:
    def __init__(self) -> None:
        self._by_run: dict[str, Running] = {}
        #: Started and not closed yet (a turn leaves ``_by_run`` when its close begins).
        self._closing: set[Running] = set()
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        #: The replicas sharing this server's database (server/cluster.py); None: alone.
        self.cluster: Cluster | None = None

    @property
    def active(self) -> int:
        return len(self._by_run)

    async def start(self, runtime: Runtime, request: ChatRequest) -> Running:
        """Start a turn for ``request.user_id``; refused while the server drains."""
        if self.draining:
            raise Draining(
                "the server is shutting down", hint="retry in a moment or on another instance"
            )
        assert request.user_id is not None
        running = Running(await runtime.chat(request), request.user_id)
        self._by_run[running.run_id] = running
        self._closing.add(running)
        self._idle.clear()
        if self.cluster is not None:
            await self.cluster.started(running, self.finish)
        return running

    async def finish(self, running: Running) -> None:
        """Forget the turn, then close it (cancelling it if it has not ended).

        Draining waits until the close is over (what was said is saved)."""
        if self._by_run.get(running.run_id) is running:
            del self._by_run[running.run_id]
        try:
            await running.turn.aclose()
        finally:
            self._closing.discard(running)
            if not self._closing:
                self._idle.set()
            if self.cluster is not None:
                await self.cluster.finished(running)

    def find_run(self, run_id: str, user_id: str | None) -> Running:
        """The running turn ``run_id`` owned by ``user_id`` (None = any, for admins)."""
        running = self._by_run.get(run_id)
        if running is None or (user_id is not None and running.user_id != user_id):
            raise NotFoundError(f"no running turn {run_id!r}", hint="it may have finished already")
        return running

    def find_call(
        self, call_id: str, user_id: str | None, run_id: str | None = None
    ) -> tuple[Running, CallKey]:
        """The pending call ``call_id`` (of run ``run_id``) owned by ``user_id`` (None = any).

        Without ``run_id`` the call id must be unique among the caller's pending calls.
        """
        found = [
            (running, key)
            for running in self._by_run.values()
            if user_id is None or running.user_id == user_id
            for key in running.turn.pending()
            if key[1] == call_id and (run_id is None or key[0] == run_id)
        ]
        return the_one_call(
            found,
            call_id,
            f"several of your turns wait for a tool call {call_id!r}",
            hint="send the run_id of its tool.approval event too",
        )

    async def approve(
        self,
        call_id: str,
        decision: ApprovalDecision,
        user_id: str | None,
        run_id: str | None = None,
    ) -> str:
        """Pass a decision to the call's turn if the caller owns it; returns the call's run id.

        A call another replica's turn waits for is decided there (server/cluster.py)."""
        try:
            running, key = self.find_call(call_id, user_id, run_id)
        except NotFoundError:
            if self.cluster is not None:
                found = await self.cluster.approve(call_id, decision, user_id, run_id)
                if found is not None:
                    return found
            raise
        await running.turn.approve(call_id, decision, run_id=key[0])
        return key[0]

    async def cancel(self, run_id: str, user_id: str | None) -> None:
        """Cancel the turn ``run_id`` if the caller owns it (here or on another replica)."""
        try:
            running = self.find_run(run_id, user_id)
        except NotFoundError:
            if self.cluster is not None and await self.cluster.cancel(run_id, user_id):
                return
            raise
        await running.turn.cancel()

    async def drain(self, grace: float) -> None:
        """Refuse new turns, let running ones finish for ``grace`` s, then cancel them."""
        self.draining = True
        if not self._closing:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        running = list(self._closing)
        for one in running:
            await one.stop(
                TurnCancelled(
                    "the turn was cancelled (the server is shutting down)",
                    hint="what was said so far is saved; send the message again",
                )
            )
        if running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 5.0)
