"""The turns a server is running: who owns them, and draining on shutdown.

Every turn the server runs is started through :meth:`RunRegistry.start`, which
asks the runtime for a :class:`~muxi_cli.protocol.turn.Turn` and files it under
its run id with the user who owns it, so ``/v1/approvals`` and
``/v1/runs/{id}/cancel`` (from any connection) can check ownership and then
steer the Turn itself. Which calls wait for an approval is the Turn's to know
(:meth:`Turn.pending`); the registry keeps no copy of it.

Each turn's events are pumped by one task of the registry onto the turn's
:class:`~muxi_cli.server.tape.Tape` (numbered, recorded in the event log), and
every stream follows the tape: the response that started the turn, a client
resuming it, a WebSocket. A stream :meth:`RunRegistry.attach` es while it reads
and :meth:`RunRegistry.detach` es when its client goes away; a turn nobody
follows any more runs on for the resume grace and is cancelled only if no
stream attaches meanwhile (an explicit cancel is immediate). The pump closes
the turn once its stream ends (:meth:`RunRegistry.finish`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from muxi_cli.core.approvals import the_one_call
from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.protocol.events import Event, RunFailed
from muxi_cli.runtime.turns import failure_event
from muxi_cli.server.tape import BEAT, Tape

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ApprovalDecision, ChatRequest
    from muxi_cli.protocol.turn import CallKey, Turn
    from muxi_cli.runtime.base import Runtime
    from muxi_cli.server.cluster import Cluster
    from muxi_cli.stores.run_events import EventLog
    from muxi_cli.stores.turn_keys import TurnKeys

log = logging.getLogger("muxi.server")

#: Seconds a turn whose client went away keeps running for a stream to resume it.
RESUME_GRACE = 30.0


class TurnCancelled(MuxiError):
    code = "cancelled"
    http_status = 499


class Draining(MuxiError):
    code = "shutting_down"
    http_status = 503


def _shutdown_cancel() -> TurnCancelled:
    return TurnCancelled(
        "the turn was cancelled (the server is shutting down)",
        hint="what was said so far is saved; send the message again",
    )


@dataclass(slots=True, eq=False)
class Running:
    """One running turn, as the server holds it."""

    turn: Turn
    user_id: str
    #: Set when the server stopped the turn (key revoked, shutdown): the turn's
    #: closing failure is reported as this error instead of a plain cancel.
    stopped_by: MuxiError | None = None
    #: The turn's events so far, numbered (see server/tape.py).
    tape: Tape = field(init=False)
    #: Streams reading the tape now; at 0 the resume grace starts.
    followers: int = 0
    _grace: asyncio.TimerHandle | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.tape = Tape(self.turn.run_id)

    @property
    def run_id(self) -> str:
        return self.turn.run_id

    @property
    def session_id(self) -> str:
        return self.turn.session_id

    async def stop(self, reason: MuxiError) -> None:
        self.stopped_by = reason
        await self.turn.cancel()

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def running_events(running: Running) -> AsyncIterator[Event]:
    """The turn's events, read from the Turn directly (the pump is the only reader).

    A closing ``run.failed`` of a turn the server stopped says why (see
    :attr:`Running.stopped_by`).
    """
    async for event in running.turn.events():
        stopped = running.stopped_by
        if stopped is not None and isinstance(event, RunFailed) and not event.nested:
            event = failure_event(event.run_id, event.session_id, stopped)
        yield event


class RunRegistry:
    def __init__(self, log: EventLog | None = None, resume_grace: float = RESUME_GRACE) -> None:
        #: Where every turn's events are recorded (None: in memory only).
        self.log = log
        self.resume_grace = resume_grace
        #: This server process (new per start); the event log names it per run.
        self.replica = f"rep_{secrets.token_hex(6)}"
        self._by_run: dict[str, Running] = {}
        #: Started and not closed yet (a turn leaves ``_by_run`` when its close begins).
        self._closing: set[Running] = set()
        #: Starts past the draining check, still in ``runtime.chat``: a drain waits for them too.
        self._starting = 0
        self.draining = False
        #: Set once a drain's grace is over: a turn whose start ends later is cancelled at once.
        self._cut = False
        self._idle = asyncio.Event()
        self._idle.set()
        #: The replicas sharing this server's database (server/cluster.py); None: alone.
        self.cluster: Cluster | None = None
        self._beating: asyncio.Task[None] | None = None
        #: Seconds between beats for the runs held here (see :func:`~muxi_cli.server.tape.follow_log`).
        self.beat_every = BEAT
        #: Turn starts' idempotency keys (server/turn_keys.py; made on the first keyed start).
        self.turn_keys: TurnKeys | None = None

    @property
    def active(self) -> int:
        return len(self._by_run)

    async def start(
        self, runtime: Runtime, request: ChatRequest, began: Callable[[Running], None] | None = None
    ) -> Running:
        """Start a turn for ``request.user_id``; refused while the server drains.
        ``began`` is told the turn as it runs, before anything awaits (a caller
        cancelled later still knows its turn)."""
        if self.draining:
            raise Draining(
                "the server is shutting down", hint="retry in a moment or on another instance"
            )
        assert request.user_id is not None
        self._starting += 1
        self._idle.clear()
        try:
            turn = await runtime.chat(request)
        except BaseException:
            self._starting -= 1
            self._settle()
            raise
        self._starting -= 1  # counted in _closing below, before anything awaits
        running = Running(turn, request.user_id)
        if self.log is not None:
            running.tape.log = self.log
            self.log.open_run(running.run_id, running.user_id, running.session_id, self.replica)
        self._by_run[running.run_id] = running
        self._closing.add(running)
        self._idle.clear()
        if began is not None:
            began(running)
        try:
            if self.cluster is not None:
                # Before the pump reads the turn: the cluster wraps it to file its approvals.
                await self.cluster.started(running)
        except asyncio.CancelledError:
            # Its caller went (a socket closed): the turn runs (a key names it), with the grace.
            self.detach(running)
            raise
        finally:
            running._later(self._pump(running))
            if self._cut:
                running._later(running.stop(_shutdown_cancel()))
            if self.log is not None and (self._beating is None or self._beating.done()):
                self._beating = asyncio.create_task(self._beat(self.log))
        return running

    async def _beat(self, log: EventLog) -> None:
        """Tell the log every few seconds which runs still run here, while any does
        (a follower elsewhere takes a run whose beats stop as lost)."""
        while self._by_run:
            await asyncio.sleep(self.beat_every)
            if self._by_run:
                log.beat(list(self._by_run))

    async def _pump(self, running: Running) -> None:
        """Read the turn onto its tape until it ends, then close it."""
        try:
            async for event in running_events(running):
                running.tape.append(event)
        except Exception:  # a Turn's stream ends with run.failed; this is a bug
            log.exception("reading turn %s failed", running.run_id)
        finally:
            if not running.tape.ended:  # every stream ends with a closing event
                lost = MuxiError(
                    "the turn ended without a closing event", hint="see the server's log"
                )
                running.tape.append(failure_event(running.run_id, running.session_id, lost))
            running.tape.close()
            if running._grace is not None:
                running._grace.cancel()
            await asyncio.shield(self.finish(running))

    def attach(self, running: Running) -> None:
        """A stream follows the turn (a waiting resume grace ends)."""
        running.followers += 1
        if running._grace is not None:
            running._grace.cancel()
            running._grace = None

    def detach(self, running: Running, grace: float | None = None) -> None:
        """A stream stopped following the turn. Once none follows it, the turn is
        cancelled after ``grace`` s (default: the resume grace) unless one attaches."""
        running.followers = max(0, running.followers - 1)
        if running.followers or running.tape.done:
            return
        wait = self.resume_grace if grace is None else grace
        if wait <= 0:
            running._later(running.turn.cancel())
        elif running._grace is None:
            running._grace = asyncio.get_running_loop().call_later(
                wait, self._abandon, running, wait
            )

    def keep(self, run_id: str, user_id: str | None) -> None:
        """A stream on another replica follows the turn (server/cluster_turn.py): a
        resume grace under way starts over."""
        running = self.find_run(run_id, user_id)
        if running._grace is not None:
            running._grace.cancel()
            running._grace = None
            running.followers += 1
            self.detach(running)

    def _abandon(self, running: Running, waited: float) -> None:
        running._grace = None
        if running.followers or running.tape.done:
            return
        reason = TurnCancelled(
            f"the turn was cancelled: its client went away and did not resume it in {waited:g} s",
            hint="what was said so far is saved; send the message again",
        )
        running._later(running.stop(reason))

    async def finish(self, running: Running) -> None:
        """Forget the turn, then close it (cancelling it if it has not ended; the
        pump calls it when the turn's stream ends).

        Draining waits until the close is over (what was said is saved)."""
        if self._by_run.get(running.run_id) is running:
            del self._by_run[running.run_id]
        try:
            await running.turn.aclose()
        finally:
            self._closing.discard(running)
            self._settle()
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

    async def answer_elicitation(
        self,
        elicitation_id: str,
        action: str,
        content: dict[str, Any] | None,
        user_id: str | None,
    ) -> str:
        """Answer an elicitation of a turn the caller owns; returns the turn's run id.

        An elicitation of another replica's turn is answered there (server/cluster.py)."""
        try:
            running = self.find_input(elicitation_id, user_id)
        except NotFoundError:
            if self.cluster is not None:
                found = await self.cluster.answer_elicitation(
                    elicitation_id, action, content, user_id
                )
                if found is not None:
                    return found
            raise
        await running.turn.answer_elicitation(elicitation_id, action, content)
        return running.run_id

    def find_input(self, elicitation_id: str, user_id: str | None) -> Running:
        """The turn here whose elicitation ``elicitation_id`` waits, owned by ``user_id``
        (None = any)."""
        for running in self._by_run.values():
            if (user_id is None or running.user_id == user_id) and (
                elicitation_id in running.turn.inputs()
            ):
                return running
        raise NotFoundError(
            f"no elicitation {elicitation_id!r} of yours is waiting for an answer",
            hint="it may have been answered or its turn may have ended",
        )

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
        try:
            await self._drain(grace)
        finally:
            if self._beating is not None:
                self._beating.cancel()

    def _settle(self) -> None:
        """Idle once no turn is starting or running (what a drain waits for)."""
        if not self._closing and not self._starting:
            self._idle.set()

    async def _drain(self, grace: float) -> None:
        if not self._closing and not self._starting:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        self._cut = True
        running = list(self._closing)
        for one in running:
            await one.stop(_shutdown_cancel())
        if running or self._starting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 5.0)

    def running(self, run_id: str, user_id: str | None) -> Running | None:
        """The turn ``run_id`` if this process runs it and ``user_id`` owns it (None = any)."""
        running = self._by_run.get(run_id)
        if running is None or (user_id is not None and running.user_id != user_id):
            return None
        return running
