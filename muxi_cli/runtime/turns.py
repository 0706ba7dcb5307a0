"""What every :class:`~muxi_cli.protocol.turn.Turn` shares, and the in-process one.

:class:`StreamTurn` holds the bookkeeping all turns share: the ids, the single
reader of ``events()``, the pending approvals seen in the stream, and closing
once. A concrete turn supplies the stream and how to cancel, answer and close.

:class:`TaskTurn` runs an event source (an async iterator) in its own task and
hands the events over through a queue: the one pump between a running turn and
whoever reads it. Cancelling the task is how a turn stops; the source sees an
``asyncio.CancelledError``, and the stream ends with ``run.failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from muxi_cli import parts
from muxi_cli.core.approvals import check_decision, the_one_call
from muxi_cli.errors import CancelledError, ConnectionFailedError, MuxiError, NotFoundError
from muxi_cli.protocol.events import Event, RunFailed, new_id
from muxi_cli.protocol.records import ApprovalDecision
from muxi_cli.protocol.turn import CallKey, PendingApprovals, Turn, is_terminal

log = logging.getLogger("muxi.runtime")

#: Seconds :meth:`Turn.aclose` waits for a cancelled turn to save what was said.
CLOSE_WAIT = 10.0


def failure_event(run_id: str, session_id: str, exc: BaseException) -> Event:
    """``run.failed`` for any exception, without leaking internals or secrets."""
    if isinstance(exc, ModuleNotFoundError):
        # A package of an extra that is not installed: name the extra.
        exc = parts.missing_part_error(exc, "this turn") or exc
    if isinstance(exc, MuxiError):
        error = exc.to_dict()
    else:
        error = {
            "code": "internal_error",
            "message": f"unexpected error: {type(exc).__name__}",
            "hint": "this is a bug in muxi; the session was saved. "
            "Run with MUXI_DEBUG=1 for details.",
        }
    return RunFailed(run_id=run_id, session_id=session_id, error=error)


def lost_event(label: str, run_id: str, session_id: str) -> Event:
    """``run.failed`` for a turn whose connection to the server was lost."""
    return RunFailed(
        run_id=run_id or new_id("run"),
        session_id=session_id,
        error={
            "code": ConnectionFailedError.code,
            "message": f"the connection to {label} was lost; the turn was interrupted",
            "hint": "what the agent said so far is saved on the server; send the message again",
        },
    )


class StreamTurn(Turn):
    """A turn whose events come from :meth:`_stream` (see the module doc)."""

    def __init__(self, run_id: str, session_id: str) -> None:
        self.run_id = run_id
        self.session_id = session_id
        self._approvals = PendingApprovals()
        self._read = False
        self._ended = False
        self._closed = False
        self._closing: asyncio.Future[None] | None = None

    @property
    def finished(self) -> bool:
        return self._ended or self._closed

    def pending(self) -> list[CallKey]:
        return self._approvals.keys()

    def events(self) -> AsyncIterator[Event]:
        if self._read:
            raise RuntimeError("a turn's events() can be read only once")
        self._read = True
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        try:
            async for event in self._stream():
                self._approvals.observe(event)
                if is_terminal(event):
                    self._ended = True
                yield event
            self._ended = True
        finally:
            # Leaving early cancels the turn; after its end this only frees resources.
            await self.aclose()

    async def cancel(self) -> None:
        if not self.finished:
            await self._cancel()

    async def approve(
        self, call_id: str, decision: ApprovalDecision, run_id: str | None = None
    ) -> None:
        check_decision(decision)
        key = the_one_call(
            self._approvals.match(call_id, run_id),
            call_id,
            f"several calls of this turn wait under the id {call_id!r}",
        )
        await self._answer(key[0], call_id, decision)
        self._approvals.discard(key)

    def inputs(self) -> list[str]:
        return self._approvals.inputs()

    async def answer_elicitation(
        self, elicitation_id: str, action: str, content: dict[str, Any] | None = None
    ) -> None:
        run_id = self._approvals.input_run(elicitation_id)
        if run_id is None:
            raise NotFoundError(
                f"no elicitation {elicitation_id!r} of this turn is waiting for an answer",
                hint="it may have been answered or its turn may have ended",
            )
        await self._answer_input(run_id, elicitation_id, action, content)
        self._approvals.discard_input(elicitation_id)

    async def _answer_input(
        self, run_id: str, elicitation_id: str, action: str, content: dict[str, Any] | None
    ) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot answer elicitations")

    async def aclose(self) -> None:
        # Every caller waits for the one close (the first may be a reader being
        # cancelled); a cancelled caller does not stop the close itself.
        if self._closing is None:
            self._closed = True
            self._closing = asyncio.ensure_future(self._close_once(not self._ended))
        await asyncio.shield(self._closing)

    async def _close_once(self, unfinished: bool) -> None:
        try:
            await self._close(unfinished)
        finally:
            self._approvals.clear()

    @abstractmethod
    def _stream(self) -> AsyncIterator[Event]: ...

    @abstractmethod
    async def _cancel(self) -> None: ...

    @abstractmethod
    async def _answer(self, run_id: str, call_id: str, decision: ApprovalDecision) -> None: ...

    @abstractmethod
    async def _close(self, unfinished: bool) -> None:
        """Free the turn's resources; ``unfinished``: cancel it first."""


_END = object()

Answer = Callable[[str, str, ApprovalDecision], Awaitable[None] | None]


class TaskTurn(StreamTurn):
    """A turn whose event source runs in its own task (started at once).

    ``answer(run_id, call_id, decision)`` resolves a pending approval. Any
    exception of the source, and its cancellation, ends the stream with
    ``run.failed`` (see :meth:`stopped`), so the reader always sees an end.
    """

    def __init__(
        self,
        run_id: str,
        session_id: str,
        source: AsyncIterator[Event],
        answer: Answer,
        observe: Callable[[Event], None] | None = None,
    ) -> None:
        super().__init__(run_id, session_id)
        #: Sees every event as it is queued (runtime/observe.py).
        self._observe = observe
        self._source = source
        self._answer_fn = answer
        self._queue: asyncio.Queue[Event | object] = asyncio.Queue()
        self._produced_end = False
        self._ended = False
        self.task: asyncio.Task[None] = asyncio.create_task(self._run())
        self.task.add_done_callback(self._after)

    async def _run(self) -> None:
        try:
            await self._produce()
        except asyncio.CancelledError as exc:
            if not self._produced_end:
                self._put(self.stopped(exc))
        except Exception as exc:
            if not isinstance(exc, MuxiError):
                log.exception("turn failed")
            if not self._produced_end:
                self._put(failure_event(self.run_id, self.session_id, exc))
        finally:
            aclose = getattr(self._source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(BaseException):
                    await aclose()
            self._ended = True
            self._queue.put_nowait(_END)

    def _after(self, task: asyncio.Task[None]) -> None:
        """A task cancelled before its first step never runs ``_run`` at all (no
        handler, no ``finally``): close the stream here, so ``events()`` ends."""
        if self._ended:
            return
        self._ended = True
        if not self._produced_end:
            self._put(self.stopped(asyncio.CancelledError()))
        self._queue.put_nowait(_END)

    async def _produce(self) -> None:
        async for event in self._source:
            self._put(event)

    def _put(self, event: Event) -> None:
        if is_terminal(event):
            self._produced_end = True
        if self._observe is not None:
            self._observe(event)
        self._queue.put_nowait(event)

    def stopped(self, exc: BaseException) -> Event:
        """The closing event of a turn whose task was cancelled."""
        return failure_event(
            self.run_id,
            self.session_id,
            CancelledError("the turn was cancelled", hint="what was said so far is saved"),
        )

    async def _stream(self) -> AsyncIterator[Event]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            assert isinstance(item, Event)
            yield item

    async def _cancel(self) -> None:
        if not self.task.done():
            self.task.cancel()

    async def _answer(self, run_id: str, call_id: str, decision: ApprovalDecision) -> None:
        result = self._answer_fn(run_id, call_id, decision)
        if result is not None:
            await result

    async def _close(self, unfinished: bool) -> None:
        if self.task.done():
            return
        if unfinished:
            self.task.cancel()
        # asyncio.wait never cancels the task, even if this caller is cancelled.
        await asyncio.wait({self.task}, timeout=CLOSE_WAIT)

    async def wait(self) -> None:
        """Until the turn's task is over (it may still be read)."""
        await asyncio.wait({self.task})
