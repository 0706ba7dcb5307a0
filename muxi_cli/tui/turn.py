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
from muxi_cli.protocol.reduce import Reducer, UsageTotals
from muxi_cli.termtext import ControlStripper, strip_controls
from muxi_cli.tui import files
from muxi_cli.tui.model import ErrorRecord, MediaNote, ReplyRecord, ToolCall

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
    #: The turn's usage totals so far (protocol/reduce.py), after each ``usage`` event.
    usage: Callable[[UsageTotals], None]
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
        #: The one fold of the turn's events (protocol/reduce.py).
        self.reducer = Reducer()
        #: Calls whose result named an image: their images are shown once the run ends.
        self._image_calls: dict[str, ReplyView] = {}

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
            await self._show_tool_images()
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

    async def _show_tool_images(self) -> None:
        """A ``tool.result`` carries text only; the images it names are in the stored
        tool message, read once the run is over (only when a result named one)."""
        if not self._image_calls or not self.session_id:
            return
        from muxi_cli.protocol.messages import ImagePart, media_of  # deferred: as the records

        try:
            messages = await self.runtime.messages(self.session_id)
        except MuxiError:
            log.debug("could not read the tool results' images", exc_info=True)
            return
        for message in messages:
            view = self._image_calls.get(message.tool_call_id or "")
            if view is None or message.role != "tool":
                continue
            call = view.reply.tool(message.tool_call_id or "")
            images = [p.media for p in media_of(message.parts) if isinstance(p, ImagePart)]
            if call is not None and images and not call.media:
                call.media = images
                await self._safely(view.show_tool_media(call))

    # -- events ---------------------------------------------------------------------

    async def _view_for(self, event: Event) -> ReplyView:
        parent = event.parent_run_id
        if not parent or event.run_id == self.run_id:
            return self.root
        view = self._views.get(event.run_id)
        if view is None:
            container = self._views.get(parent, self.root)
            agent = event.agent if isinstance(event, (ev.RunStarted, ev.AgentRouted)) else None
            record = ReplyRecord(agent=agent, run_id=event.run_id, depth=event.depth or 1)
            view = await container.add_delegate(record)
            self._views[event.run_id] = view
        return view

    async def handle(self, event: Event) -> None:
        if isinstance(event, ev.RunStarted) and not event.nested and self.session_id:
            # The id is the Turn's; its run.started says the session now exists.
            self.hooks.session(self.session_id)
        summary = self.reducer.feed(event)
        if not event.known:
            log.debug("ignoring unknown event type %r", event.type)
            return
        view = await self._view_for(event)
        if isinstance(event, ev.RunStarted):
            view.routed(event.agent, None, None)
        elif isinstance(event, ev.AgentRouted):
            view.routed(event.agent, event.reason, event.method, event.failure)
            if view is self.root and event.agent:
                self.hooks.routed(event.agent)
        elif isinstance(event, ev.MemoryRecalled):
            await view.recalled([dict(i) for i in event.items])
        elif isinstance(event, ev.TextDelta):
            # Textual writes text to the terminal as it is: model text must not
            # carry escape sequences (OSC 52 clipboard writes, titles, ...).
            stripper = self._strippers.setdefault(event.run_id, ControlStripper())
            text = stripper.feed(event.text)
            if text:
                await view.append_text(text)
        elif isinstance(event, ev.ToolRequested):
            await view.add_tool(
                ToolCall(
                    call_id=event.call_id,
                    server=event.server,
                    tool=event.tool,
                    arguments=_cleaned(event.arguments),
                    status="running",
                )
            )
        elif isinstance(event, ev.ToolApproval):
            await self._approval(view, event)
        elif isinstance(event, ev.ToolProgress):
            self._progress(view, event)
        elif isinstance(event, ev.ToolResult):
            self._result(view, event)
        elif isinstance(event, ev.Usage):
            # The reply shows its own run's totals, the status bar the turn's (the
            # reducer's usage rule: every usage event, nested ones included).
            run = self.reducer.run(event.run_id)
            if run is not None:
                view.reply.usage = run.usage
            self.hooks.usage(summary.total_usage)
        elif isinstance(event, ev.RunCompleted):
            rest = self._strippers.pop(event.run_id, ControlStripper()).flush()
            if rest:
                await view.append_text(rest)
            if view is self.root:
                await view.set_full_text(strip_controls(event.text))
                self.state = "done"
            await view.finish("done", duration_ms=event.duration_ms)
        elif isinstance(event, ev.Notice):
            self.hooks.notice(event.message)
        elif isinstance(event, ev.MediaProcessed):
            await view.add_note(MediaNote(processed_line(event)))
        elif isinstance(event, ev.MediaFailed):
            name = strip_controls(event.name or event.media_id[:12] or "attachment")
            await view.add_note(MediaNote(f"📎 {name}: {strip_controls(event.message)}", "failed"))
        elif isinstance(event, ev.TranscriptDelta):
            await view.heard(strip_controls(event.text), event.final)
        elif isinstance(event, ev.RunFailed):
            error = ErrorRecord(
                strip_controls(event.message),
                strip_controls(event.hint) if event.hint else None,
                strip_controls(event.code),
            )
            if view is self.root:
                await self._fail(error)
            else:
                await view.finish("failed", error=error)

    async def _approval(self, view: ReplyView, event: ev.ToolApproval) -> None:
        call_id = event.call_id
        call = view.reply.tool(call_id)
        if call is None:  # approval before (or without) a request: show the call anyway
            call = ToolCall(call_id=call_id, server="", tool="tool")
            await view.add_tool(call)
        by = event.by or "policy"
        if event.decision == "pending":
            call.status = "pending"
            prompt = await view.ask_approval(call)
            self.hooks.approval(prompt)
        elif event.decision == "denied":
            call.status = "denied"
            call.decided_by = f"denied by {by}"
        else:
            call.status = "running"
            call.decided_by = f"allowed by {by}"
        entry = view.tool_entry(call_id)
        if entry is not None:
            entry.refresh_call()

    def _progress(self, view: ReplyView, event: ev.ToolProgress) -> None:
        call = view.reply.tool(event.call_id)
        if call is None:
            return
        message = " ".join(strip_controls(event.message or "").split())[:80]
        call.progress = (event.progress, event.total, message)
        entry = view.tool_entry(event.call_id)
        if entry is not None:
            entry.refresh_call()

    def _result(self, view: ReplyView, event: ev.ToolResult) -> None:
        call_id = event.call_id
        call = view.reply.tool(call_id)
        if call is None:
            return
        if call.status != "denied":
            call.status = "ok" if event.ok else "error"
        call.result = strip_controls(event.content)
        call.duration_ms = event.duration_ms
        if "[image:" in event.content:  # how a tool result's text names its images
            self._image_calls[call_id] = view
        entry = view.tool_entry(call_id)
        if entry is not None:
            entry.refresh_call()


def processed_line(event: ev.MediaProcessed) -> str:
    """``📎 scan.pdf · 3 pages · text+ocr``."""
    bits = [strip_controls(event.name or event.media_id[:12] or "attachment")]
    meta = event.meta
    if isinstance(meta.get("width"), int | float) and isinstance(meta.get("height"), int | float):
        bits.append(f"{int(meta['width'])}x{int(meta['height'])}")
    if isinstance(meta.get("pages"), int | float):
        pages = int(meta["pages"])
        bits.append(f"{pages} page" + ("" if pages == 1 else "s"))
    if isinstance(meta.get("duration"), int | float):
        bits.append(files.duration(float(meta["duration"])))
    if event.derived:
        bits.append("+".join(strip_controls(str(d)) for d in event.derived))
    return "📎 " + " · ".join(bits)


def _cleaned(value: Any) -> Any:
    """``value`` with escape sequences removed from every string in it."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, dict):
        return {strip_controls(str(k)): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value
