"""One turn: send a request to the runtime and show its events as they arrive.

Events of a delegated agent (``parent_run_id`` in the payload) go to a nested
view inside the parent's reply. Unknown event types are ignored. A provider or
tool failure ends the turn with the error shown in place; it never escapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.protocol import events as ev
from muxi_cli.termtext import ControlStripper, strip_controls
from muxi_cli.tui.model import ErrorRecord, ReplyRecord, ToolCall

if TYPE_CHECKING:
    from muxi_cli.protocol.events import Event
    from muxi_cli.protocol.records import ApprovalDecision, ChatRequest
    from muxi_cli.protocol.turn import Turn as RuntimeTurn
    from muxi_cli.runtime.base import Runtime
    from muxi_cli.tui.widgets.approval import ApprovalPrompt
    from muxi_cli.tui.widgets.reply import ReplyView

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 5.0


@dataclass
class TurnHooks:
    """What a turn tells the screen."""

    session: Callable[[str], None]
    usage: Callable[[int, int, float | None, str | None, bool], None]
    approval: Callable[[ApprovalPrompt], None]
    routed: Callable[[str], None]
    #: A warning that does not stop the run (e.g. a tool call written as text).
    notice: Callable[[str], None] = lambda message: None


class Turn:
    """What the chat screen shows of one turn; steers the runtime's :class:`RuntimeTurn`."""

    def __init__(
        self, runtime: Runtime, request: ChatRequest, root: ReplyView, hooks: TurnHooks
    ) -> None:
        self.runtime = runtime
        self.request = request
        self.root = root
        self.hooks = hooks
        #: The runtime's handle of the running turn (once it started).
        self.runtime_turn: RuntimeTurn | None = None
        self.run_id: str | None = None
        self.session_id: str | None = request.session_id
        self.state = "running"
        self.error: ErrorRecord | None = None
        self._views: dict[str, ReplyView] = {}
        #: One per run (delegates stream too): a sequence cut between two
        #: deltas is held back whole instead of leaking its printable half.
        self._strippers: dict[str, ControlStripper] = {}

    async def run(self) -> None:
        """Consume the turn's events. Cancellation (Esc) keeps what was streamed."""
        handle: RuntimeTurn | None = None
        try:
            handle = self.runtime_turn = await self.runtime.chat(self.request)
            self.run_id = self.root.reply.run_id = handle.run_id
            self.session_id = handle.session_id
            async for event in handle.events():
                await self.handle(event)
            if self.state == "running":  # the stream ended without a final event
                await self.root.finish("done")
                self.state = "done"
        except asyncio.CancelledError:
            self.state = "cancelled"
            if handle is not None:
                await self._safely(self._cancel(handle))
            await self._safely(self.root.finish("cancelled"))
            raise
        except MuxiError as exc:
            await self._fail(ErrorRecord(exc.message, exc.hint, exc.code))
        except Exception as exc:  # never let a bug in a runtime take the app down
            log.exception("turn failed")
            await self._fail(
                ErrorRecord(
                    f"{type(exc).__name__}: {exc}",
                    "This looks like a bug; the details are in the log file (see /help).",
                    "internal_error",
                )
            )
        finally:
            if handle is not None and self.state != "cancelled":
                with contextlib.suppress(Exception):
                    await handle.aclose()

    async def approve(self, call_id: str, decision: ApprovalDecision) -> None:
        """Answer a pending call of this turn (raises if the turn has none by that id)."""
        if self.runtime_turn is None:
            raise NotFoundError(f"no tool call {call_id!r} is waiting for approval")
        await self.runtime_turn.approve(call_id, decision)

    @staticmethod
    async def _cancel(handle: RuntimeTurn) -> None:
        """Stop the turn and wait (bounded) until what was said is saved."""
        for step in (handle.cancel, handle.aclose):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(step(), CANCEL_TIMEOUT)

    async def _fail(self, error: ErrorRecord) -> None:
        self.state = "failed"
        self.error = error
        await self._safely(self.root.finish("failed", error=error))

    @staticmethod
    async def _safely(awaitable: Any) -> None:
        try:
            await awaitable
        except Exception:  # the screen may be closing; nothing left to update
            log.debug("turn cleanup step failed", exc_info=True)

    # -- events ---------------------------------------------------------------------

    async def _view_for(self, event: Event) -> ReplyView:
        parent = event.get("parent_run_id")
        if not parent or event.run_id == self.run_id:
            return self.root
        view = self._views.get(event.run_id)
        if view is None:
            container = self._views.get(parent, self.root)
            record = ReplyRecord(
                agent=event.get("agent"), run_id=event.run_id, depth=int(event.get("depth") or 1)
            )
            view = await container.add_delegate(record)
            self._views[event.run_id] = view
        return view

    async def handle(self, event: Event) -> None:
        kind = event.type
        if kind == ev.RUN_STARTED and not event.nested and self.session_id:
            # The id is the Turn's; its run.started says the session now exists.
            self.hooks.session(self.session_id)
        if not event.known:
            log.debug("ignoring unknown event type %r", kind)
            return
        view = await self._view_for(event)
        if kind == ev.RUN_STARTED:
            view.routed(event.get("agent"), None, None)
        elif kind == ev.AGENT_ROUTED:
            view.routed(
                event.get("agent"), event.get("reason"), event.get("method"), event.get("failure")
            )
            if view is self.root and event.get("agent"):
                self.hooks.routed(str(event.get("agent")))
        elif kind == ev.MEMORY_RECALLED:
            items = event.get("items") or []
            await view.recalled(
                [dict(i) for i in items if isinstance(i, dict) or hasattr(i, "items")]
            )
        elif kind == ev.TEXT_DELTA:
            # Textual writes text to the terminal as it is: model text must not
            # carry escape sequences (OSC 52 clipboard writes, titles, ...).
            stripper = self._strippers.setdefault(event.run_id, ControlStripper())
            text = stripper.feed(str(event.get("text") or ""))
            if text:
                await view.append_text(text)
        elif kind == ev.TOOL_REQUESTED:
            await view.add_tool(
                ToolCall(
                    call_id=str(event.get("call_id")),
                    server=str(event.get("server") or ""),
                    tool=str(event.get("tool") or ""),
                    arguments=_cleaned(event.get("arguments") or {}),
                    status="running",
                )
            )
        elif kind == ev.TOOL_APPROVAL:
            await self._approval(view, event)
        elif kind == ev.TOOL_RESULT:
            self._result(view, event)
        elif kind == ev.USAGE:
            tin, tout = int(event.get("input_tokens") or 0), int(event.get("output_tokens") or 0)
            cost = event.get("cost_usd")
            unknown = bool(event.get("unknown"))
            view.reply.usage.add(tin, tout, cost, unknown)
            view.reply.usage.model = event.get("model") or view.reply.usage.model
            self.hooks.usage(tin, tout, cost, event.get("model"), unknown)
        elif kind == ev.RUN_COMPLETED:
            rest = self._strippers.pop(event.run_id, ControlStripper()).flush()
            if rest:
                await view.append_text(rest)
            if view is self.root:
                await view.set_full_text(strip_controls(str(event.get("text") or "")))
                self.state = "done"
            await view.finish("done", duration_ms=event.get("duration_ms"))
        elif kind == ev.NOTICE:
            self.hooks.notice(str(event.get("message") or ""))
        elif kind == ev.RUN_FAILED:
            raw = event.get("error") or {}
            hint = raw.get("hint")
            error = ErrorRecord(
                strip_controls(str(raw.get("message") or "the run failed")),
                strip_controls(str(hint)) if hint else None,
                strip_controls(str(raw.get("code") or "error")),
            )
            if view is self.root:
                await self._fail(error)
            else:
                await view.finish("failed", error=error)

    async def _approval(self, view: ReplyView, event: Event) -> None:
        call_id = str(event.get("call_id"))
        call = view.reply.tool(call_id)
        if call is None:  # approval before (or without) a request: show the call anyway
            call = ToolCall(call_id=call_id, server="", tool=str(event.get("tool") or "tool"))
            await view.add_tool(call)
        decision = event.get("decision")
        by = event.get("by") or "policy"
        if decision == "pending":
            call.status = "pending"
            prompt = await view.ask_approval(call)
            self.hooks.approval(prompt)
        elif decision == "denied":
            call.status = "denied"
            call.decided_by = f"denied by {by}"
        else:
            call.status = "running"
            call.decided_by = f"allowed by {by}"
        entry = view.tool_entry(call_id)
        if entry is not None:
            entry.refresh_call()

    def _result(self, view: ReplyView, event: Event) -> None:
        call_id = str(event.get("call_id"))
        call = view.reply.tool(call_id)
        if call is None:
            return
        ok = bool(event.get("ok"))
        if call.status != "denied":
            call.status = "ok" if ok else "error"
        content = event.get("content")
        call.result = strip_controls(content if isinstance(content, str) else str(content))
        call.duration_ms = event.get("duration_ms")
        entry = view.tool_entry(call_id)
        if entry is not None:
            entry.refresh_call()


def _cleaned(value: Any) -> Any:
    """``value`` with escape sequences removed from every string in it."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, dict):
        return {strip_controls(str(k)): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value
