"""The turns a server is running: who owns them, their pending approvals, draining.

Every turn the server runs goes through :meth:`RunRegistry.pump`, which
consumes the runtime's event iterator in its own task. The registry learns each
run's id from its first event, remembers which user owns it and which tool
calls wait for an approval, so ``/v1/approvals`` and ``/v1/runs/{id}/cancel``
can check ownership. Cancelling the task closes the runtime's iterator (what
was said so far stays saved).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from muxi_cli.errors import MuxiError, NotFoundError, UsageError
from muxi_cli.protocol.events import RUN_COMPLETED, RUN_FAILED, Event, ToolApproval

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ApprovalDecision
    from muxi_cli.runtime.base import Runtime

#: A pending tool call: (run id of its tool.approval event, call id). Providers
#: choose call ids and may repeat them, so the run id is part of the key.
CallKey = tuple[str, str]

_END = object()


class TurnCancelled(MuxiError):
    code = "cancelled"
    http_status = 499


class Draining(MuxiError):
    code = "shutting_down"
    http_status = 503


@dataclass(slots=True, eq=False)
class Turn:
    """One running turn."""

    user_id: str
    task: asyncio.Task[None] | None = None
    run_id: str | None = None
    session_id: str | None = None
    pending_calls: set[CallKey] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class RunRegistry:
    def __init__(self) -> None:
        self.turns: set[Turn] = set()
        self._by_run: dict[str, Turn] = {}
        self._by_call: dict[CallKey, Turn] = {}
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active(self) -> int:
        return len(self.turns)

    def find_run(self, run_id: str, user_id: str | None) -> Turn:
        """The running turn ``run_id`` owned by ``user_id`` (None = any, for admins)."""
        turn = self._by_run.get(run_id)
        if turn is None or (user_id is not None and turn.user_id != user_id):
            raise NotFoundError(f"no running turn {run_id!r}", hint="it may have finished already")
        return turn

    def find_call(self, call_id: str, user_id: str | None, run_id: str | None = None) -> CallKey:
        """The pending call ``call_id`` (of run ``run_id``) owned by ``user_id`` (None = any).

        Without ``run_id`` the call id must be unique among the caller's pending calls.
        """
        found = [
            key
            for key, turn in self._by_call.items()
            if key[1] == call_id
            and (run_id is None or key[0] == run_id)
            and (user_id is None or turn.user_id == user_id)
        ]
        if not found:
            raise NotFoundError(
                f"no tool call {call_id!r} is waiting for approval",
                hint="it may have been decided or its turn may have ended",
            )
        if len(found) > 1:
            raise UsageError(
                f"several of your turns wait for a tool call {call_id!r}",
                hint="send the run_id of its tool.approval event too",
            )
        return found[0]

    async def approve(
        self,
        runtime: Runtime,
        call_id: str,
        decision: ApprovalDecision,
        user_id: str | None,
        run_id: str | None = None,
    ) -> str:
        """Pass a decision to the runtime if the caller owns the call; returns its run id."""
        key = self.find_call(call_id, user_id, run_id)
        await runtime.approve(call_id, decision, run_id=key[0])
        self.resolved(key)
        return key[0]

    def _observe(self, turn: Turn, event: Event) -> None:
        if event.run_id and turn.run_id is None and not event.nested:
            turn.run_id = event.run_id
            turn.session_id = event.session_id
            self._by_run[event.run_id] = turn
        if isinstance(event, ToolApproval):
            call_id = event.call_id
            if not call_id:
                return
            key = (event.run_id, call_id)
            if event.decision == "pending":
                turn.pending_calls.add(key)
                self._by_call[key] = turn
            else:
                turn.pending_calls.discard(key)
                self._by_call.pop(key, None)

    def resolved(self, key: CallKey) -> None:
        turn = self._by_call.pop(key, None)
        if turn is not None:
            turn.pending_calls.discard(key)

    def _forget(self, turn: Turn) -> None:
        self.turns.discard(turn)
        if turn.run_id:
            self._by_run.pop(turn.run_id, None)
        for key in turn.pending_calls:
            self._by_call.pop(key, None)
        turn.done.set()
        if not self.turns:
            self._idle.set()

    @contextlib.asynccontextmanager
    async def pump(
        self,
        events: AsyncIterator[Event],
        user_id: str,
        on_event: Callable[[Event], Awaitable[None]] | None = None,
    ) -> AsyncIterator[asyncio.Queue[Event | object]]:
        """Run ``events`` in a task; yields a queue of events ending with a sentinel.

        Leaving the context early (a client went away) cancels the task, which
        closes the runtime's iterator.
        """
        if self.draining:
            raise Draining(
                "the server is shutting down", hint="retry in a moment or on another instance"
            )
        queue: asyncio.Queue[Event | object] = asyncio.Queue()
        turn = Turn(user_id=user_id)
        self.turns.add(turn)
        self._idle.clear()

        async def run() -> None:
            ended = False
            try:
                async for event in events:
                    self._observe(turn, event)
                    ended = ended or is_terminal(event)
                    queue.put_nowait(event)
                    if on_event is not None:
                        await on_event(event)
            except asyncio.CancelledError:
                if not ended:  # tell whoever still listens (e.g. on shutdown)
                    queue.put_nowait(
                        TurnCancelled(
                            "the turn was cancelled"
                            + (" (the server is shutting down)" if self.draining else ""),
                            hint="what was said so far is saved; send the message again",
                        )
                    )
                raise
            except MuxiError as exc:
                queue.put_nowait(exc)
            except Exception as exc:  # a runtime bug: report it as a failed run
                queue.put_nowait(MuxiError(f"the turn failed: {type(exc).__name__}: {exc}"))
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(BaseException):
                        await aclose()
                queue.put_nowait(_END)
                self._forget(turn)

        turn.task = asyncio.create_task(run())
        try:
            yield queue
        finally:
            if not turn.task.done():
                turn.task.cancel()
                import anyio

                # The caller may itself be cancelled (client gone): still wait,
                # briefly, for the runtime to save what was said.
                with anyio.move_on_after(10, shield=True), contextlib.suppress(BaseException):
                    await turn.task

    async def drain(self, grace: float) -> None:
        """Refuse new turns, let running ones finish for ``grace`` s, then cancel them."""
        self.draining = True
        if not self.turns:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        tasks = [t.task for t in list(self.turns) if t.task is not None and not t.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)


def is_end(item: object) -> bool:
    return item is _END


def is_terminal(event: Event) -> bool:
    return event.type in (RUN_COMPLETED, RUN_FAILED) and not event.nested
