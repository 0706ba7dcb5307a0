"""The turn :meth:`AsyncClient.chat` returns: iterate it for events, await it for the summary.

A :class:`ChatTurn` wraps the runtime's own turn (SSE with resume, or the
WebSocket with reconnect: :mod:`muxi_cli.runtime.remote_sse`,
:mod:`muxi_cli.runtime.remote_ws`) and folds every event it hands out into a
:class:`TurnResult` with the same reducer the CLI's ``-o json`` uses
(:mod:`muxi_cli.protocol.reduce`), so both summaries agree::

    turn = await client.chat("hi")
    async for event in turn:          # typed events, once
        ...
    result = await turn               # the rest is read if the loop stopped early

Leaving a turn unread and closing it (``aclose``, ``async with``) cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from muxi_cli.client.errors import ClientClosed, from_muxi
from muxi_cli.errors import MuxiError
from muxi_cli.protocol.events import Event
from muxi_cli.protocol.records import ApprovalDecision
from muxi_cli.protocol.reduce import Reducer
from muxi_cli.protocol.turn import Turn


@dataclass
class TurnResult:
    """What a turn came to, once its last event was read."""

    run_id: str
    session_id: str
    #: The agent that answered (the router's choice).
    agent: str | None
    #: The whole reply (what was streamed, when the turn did not complete).
    reply: str
    #: ``completed``, ``failed``, ``cancelled`` (or ``incomplete``: no closing event).
    status: str
    #: ``{"code", "message", "hint"}`` of a failed or cancelled turn.
    error: dict[str, Any] | None
    #: The turn's token counts (``input_tokens``, ``output_tokens``, ``by_model``...).
    usage: dict[str, Any]
    #: Every tool call of the turn: ``call_id``, ``tool``, ``arguments``,
    #: ``decision``, ``ok``, ``content``...
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "completed"


class ChatTurn:
    """One running turn on a muxi server (see the module doc).

    ``run_id`` and ``session_id`` are known when :meth:`AsyncClient.chat`
    returns. Iterate it once (one reader); :meth:`result` reads what is left.
    """

    def __init__(
        self, inner: Turn, transport: str, check_open: Callable[[], None] | None = None
    ) -> None:
        self._inner = inner
        #: ``sse`` or ``ws``: how the events travel.
        self.transport = transport
        #: Raises ClientClosed once the client that started the turn was closed.
        self._check_open = check_open or (lambda: None)
        #: The client was closed before the turn's end (it closed the turn).
        self._cut = False
        self.run_id = inner.run_id
        self.session_id = inner.session_id
        self._source: AsyncIterator[Event] | None = None
        self._reducer = Reducer()
        self._events: list[Event] = []
        self._done = False
        #: A read is in progress (one reader at a time); set while none is, so
        #: result() in another task wakes when that reader stops, however it stops
        #: (the end, an error, or the reader's task cancelled).
        self._reading = False
        self._idle = asyncio.Event()
        self._idle.set()

    # -- events ----------------------------------------------------------------------

    def __aiter__(self) -> ChatTurn:
        return self

    async def __anext__(self) -> Event:
        if self._cut:
            raise ClientClosed("this turn was closed with its client before its end")
        if self._done:
            raise StopAsyncIteration
        self._check_open()
        if self._reading:
            raise RuntimeError(
                "another task is reading this turn; `await turn.result()` waits for its end"
            )
        if self._source is None:
            self._source = self._inner.events()
        self._reading = True
        self._idle.clear()
        try:
            event = await anext(self._source)
        except StopAsyncIteration:
            self._finish()
            raise
        except MuxiError as exc:
            self._finish()
            raise from_muxi(exc) from exc
        finally:
            self._reading = False
            self._idle.set()
        self._events.append(event)
        self._reducer.feed(event)
        if event.session_id and not event.nested:
            self.session_id = event.session_id
        return event

    def _finish(self) -> None:
        self._done = True

    @property
    def finished(self) -> bool:
        """Whether the turn's last event was read (or it was closed)."""
        return self._done or self._inner.finished

    # -- the summary -------------------------------------------------------------------

    async def result(self) -> TurnResult:
        """Read the rest of the turn and summarise it (any number of times).
        While another task iterates the turn, this waits for that reader to end."""
        if self._cut:
            raise ClientClosed("this turn was closed with its client before its end")
        while not self._done:
            if self._reading:
                # Another task reads: wait until it stops, then read what it left.
                await self._idle.wait()
                continue
            async for _event in self:
                pass
        s = self._reducer.summary
        return TurnResult(
            run_id=s.run_id or self.run_id,
            session_id=s.session_id or self.session_id,
            agent=s.agent,
            reply=s.reply,
            status=s.status,
            error=s.error,
            usage=s.total_usage.to_dict(),
            tool_calls=[c.to_dict(with_agent=True) for c in s.tool_calls_all],
            events=list(self._events),
        )

    def __await__(self) -> Generator[Any, None, TurnResult]:
        return self.result().__await__()

    # -- steering ----------------------------------------------------------------------

    def pending(self) -> list[tuple[str, str]]:
        """The tool calls waiting for a decision, as ``(run id, call id)``."""
        return self._inner.pending()

    async def approve(
        self, call_id: str, decision: ApprovalDecision = "allow", run_id: str | None = None
    ) -> None:
        """Answer a ``tool.approval`` event whose decision is ``pending``:
        ``allow``, ``deny`` or ``always``. ``run_id`` only when a delegate's
        pending call shares the call id with another."""
        self._check_open()
        try:
            await self._inner.approve(call_id, decision, run_id)
        except MuxiError as exc:
            raise from_muxi(exc) from exc

    def inputs(self) -> list[str]:
        """The elicitations waiting for an answer (their ``elicitation_id``)."""
        return self._inner.inputs()

    async def answer_elicitation(
        self, elicitation_id: str, action: str, content: dict[str, Any] | None = None
    ) -> None:
        """Answer an ``elicitation.requested`` event whose ``pending`` is true:
        ``accept`` with ``content`` (the requested fields), ``decline`` or ``cancel``."""
        self._check_open()
        try:
            await self._inner.answer_elicitation(elicitation_id, action, content)
        except MuxiError as exc:
            raise from_muxi(exc) from exc

    async def cancel(self) -> None:
        """Ask the server to stop the turn; its events then end with
        ``run.failed`` (code ``cancelled``), and what was said is kept."""
        self._check_open()
        try:
            await self._inner.cancel()
        except MuxiError as exc:
            raise from_muxi(exc) from exc

    async def aclose(self) -> None:
        """Free the turn's connection; a turn not read to its end is cancelled."""
        self._finish()
        await self._inner.aclose()

    async def _close_with_client(self) -> None:
        """The client is closing: a turn not read to its end is closed (cancelled
        on the server); reading it afterwards raises ClientClosed."""
        if not self.finished:
            self._cut = True
            await self.aclose()

    async def __aenter__(self) -> ChatTurn:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"ChatTurn(run_id={self.run_id!r}, session_id={self.session_id!r})"
