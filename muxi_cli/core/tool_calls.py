"""The tool calls of one model turn: approval, concurrent execution, persistence.

:class:`ToolCallRunner` runs the calls a model asked for in one answer
concurrently, emits their ``tool.requested`` / ``tool.approval`` /
``tool.result`` events, waits for interactive approvals, and stores each
result in the session. Calls to delegate agents go back to the agent engine
through the ``delegate`` callback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from muxi_cli import tracecontext
from muxi_cli.config.schema import Formation
from muxi_cli.core.approvals import ApprovalBroker
from muxi_cli.core.attachments import (
    clean_tool_media,
    outcome_media,
    tool_refs,
    tool_result_parts,
)
from muxi_cli.core.cancel import cancelled_tool_result, stop_reason
from muxi_cli.core.history import truncate_for_model
from muxi_cli.core.media_gate import MediaGate
from muxi_cli.core.turn_input import TurnInput
from muxi_cli.core.writer import MessageStore
from muxi_cli.llm.base import ModelResolver, ToolCall
from muxi_cli.protocol.events import Event
from muxi_cli.tools.base import CURRENT_CALLER, ToolCaller, ToolDef, ToolHost, ToolOutcome
from muxi_cli.tools.mcp_hooks import CURRENT_PROGRESS
from muxi_cli.tools.mcp_input import CURRENT_INPUT

if TYPE_CHECKING:
    from muxi_cli.core.agent import TurnSpec

log = logging.getLogger("muxi.agent")

#: Tool kinds the engine runs itself (through the ``delegate`` callback).
ENGINE_KINDS = ("delegate", "memory")

#: Runs a tool the agent engine serves itself: a delegate agent (``ask_<agent>``)
#: or the memory search. The tool host never sees these calls.
Delegate = Callable[
    ["TurnSpec", ToolDef, ToolCall, "asyncio.Queue[Event | None]"], Awaitable[ToolOutcome]
]


class ToolCallRunner:
    """Runs the tool calls of one model answer (see the module docstring)."""

    def __init__(
        self,
        formation: Formation,
        tools: ToolHost,
        store: MessageStore,
        approvals: ApprovalBroker,
        delegate: Delegate,
        models: ModelResolver | None = None,
        media_gate: MediaGate | None = None,
    ) -> None:
        self.formation = formation
        #: The model an MCP server's sampling request goes to (core/turn_input.py),
        #: and the engine's media side for the request's images and audio.
        self.models = models
        self.media_gate = media_gate
        self.tools = tools
        self.store = store
        self.approvals = approvals
        self.delegate = delegate

    async def run(
        self,
        spec: TurnSpec,
        calls: list[ToolCall],
        by_name: dict[str, ToolDef],
        results: dict[str, tuple[ToolDef | None, ToolOutcome]],
    ) -> AsyncIterator[Event]:
        """Run the calls of one model turn concurrently, yielding their events."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        async def one(call: ToolCall) -> None:
            tool_def = by_name.get(call.name)
            try:
                outcome = await self._call(spec, call, tool_def, queue)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a tool never crashes the turn
                log.exception("tool call %s failed", call.name)
                outcome = ToolOutcome(False, f"{type(exc).__name__}: {exc}")
            results[call.id] = (tool_def, outcome)

        async def run_all() -> None:
            try:
                await asyncio.gather(*(one(c) for c in calls))
            finally:
                queue.put_nowait(None)

        runner = asyncio.create_task(run_all())
        try:
            while True:
                event = await queue.get()
                if event is None:
                    break
                yield event
            await runner
        finally:
            if not runner.done():
                runner.cancel()
                try:
                    await runner
                except (asyncio.CancelledError, Exception):
                    pass
            for call in calls:
                self.approvals.close(call.id, spec.factory.run_id)
            self._store_unanswered(spec, calls, by_name, results)

    def _store_unanswered(
        self,
        spec: TurnSpec,
        calls: list[ToolCall],
        by_name: dict[str, ToolDef],
        results: dict[str, tuple[ToolDef | None, ToolOutcome]],
    ) -> None:
        """The turn stopped while calls were pending or running: store a result
        saying so for each, so the session never holds a call without an answer
        (sync writes only: this runs while a generator closes)."""
        if not spec.persist:
            return
        reason = stop_reason()
        for call in calls:
            if call.id in results:
                continue
            tool_def = by_name.get(call.name)
            self.store.add_message(
                spec.session_id,
                "tool",
                cancelled_tool_result(reason),
                agent=spec.agent.name,
                run_id=spec.factory.run_id,
                tool_call_id=call.id,
                meta={
                    "name": call.name,
                    "server": tool_def.server if tool_def else "unknown",
                    "tool": tool_def.tool if tool_def else call.name,
                    "ok": False,
                    "cancelled": True,
                    "stopped": reason,
                },
            )

    async def _call(
        self,
        spec: TurnSpec,
        call: ToolCall,
        tool_def: ToolDef | None,
        queue: asyncio.Queue[Event | None],
    ) -> ToolOutcome:
        f = spec.factory
        server = tool_def.server if tool_def else "unknown"
        tool_name = tool_def.tool if tool_def else call.name
        queue.put_nowait(f.tool_requested(call.id, server, tool_name, call.arguments))
        # The call's duration is the tool's own time: the clock restarts once the
        # call is approved, so a user thinking it over is not counted.
        started = time.monotonic()

        def finish(outcome: ToolOutcome, *, meta: dict[str, Any] | None = None) -> ToolOutcome:
            duration = int((time.monotonic() - started) * 1000)
            shown = truncate_for_model(outcome.content, self.formation.tool_result_limit)
            items = outcome_media(outcome)
            # Stored for a persisted turn only: a delegate's results are not kept.
            refs = (
                tool_refs(items, self.store.media.for_owner(spec.user_id)) if spec.persist else []
            )
            stored = tuple(r.to_dict() for r in refs if r is not None)
            queue.put_nowait(f.tool_result(call.id, outcome.ok, shown, duration, stored))
            if spec.persist:
                parts = tool_result_parts(call.id, outcome.content, refs, outcome.ok)
                self.store.add_message(
                    spec.session_id,
                    "tool",
                    outcome.content,
                    agent=spec.agent.name,
                    run_id=f.run_id,
                    tool_call_id=call.id,
                    parts=parts,
                    meta={
                        "name": call.name,
                        "server": server,
                        "tool": tool_name,
                        "ok": outcome.ok,
                        "duration_ms": duration,
                        **(meta or {}),
                    },
                )
            return outcome

        if tool_def is None:
            return finish(
                ToolOutcome(False, f"Unknown tool {call.name!r}. Use one of the tools offered.")
            )
        if call.invalid_arguments is not None:
            return finish(
                ToolOutcome(
                    False,
                    "The arguments were not a valid JSON object: "
                    f"{call.invalid_arguments[:200]!r}. Call the tool again with valid JSON.",
                )
            )

        allowed, by = await self._approve(spec, call, tool_def, queue)
        if not allowed:
            return finish(
                ToolOutcome(
                    False,
                    f"The call to {tool_name} was denied by {by}. Do not retry it; "
                    "answer without it or say what you would need.",
                ),
                meta={"denied": True},
            )
        started = time.monotonic()
        if tool_def.kind in ENGINE_KINDS:
            outcome = await self.delegate(spec, tool_def, call, queue)
        else:
            token = CURRENT_CALLER.set(ToolCaller(spec.user_id, spec.caller_role))
            traced = tracecontext.CURRENT_CALL.set((f.run_id, call.id))
            # An MCP server's progress notifications become this call's tool.progress.
            progress = CURRENT_PROGRESS.set(
                lambda done, total, message: queue.put_nowait(
                    f.tool_progress(call.id, done, total, message)
                )
            )
            # What the MCP server asks mid-call (elicitation, sampling) comes back here.
            channel = TurnInput(
                spec, call.id, queue, self.approvals, self.formation, self.models, self.media_gate
            )
            asking = CURRENT_INPUT.set(channel)
            try:
                outcome = await self.tools.call(tool_def, call.arguments)
            finally:
                CURRENT_INPUT.reset(asking)
                CURRENT_PROGRESS.reset(progress)
                tracecontext.CURRENT_CALL.reset(traced)
                CURRENT_CALLER.reset(token)
            await clean_tool_media(outcome)
        return finish(outcome)

    async def _approve(
        self,
        spec: TurnSpec,
        call: ToolCall,
        tool_def: ToolDef,
        queue: asyncio.Queue[Event | None],
    ) -> tuple[bool, str]:
        f = spec.factory
        policy = tool_def.policy
        if policy == "allow":
            queue.put_nowait(f.tool_approval(call.id, "allowed", "policy"))
            return True, "policy"
        if policy == "deny":
            queue.put_nowait(f.tool_approval(call.id, "denied", "policy"))
            return False, "policy"
        if not may_approve(spec.approvable, tool_def):
            # The caller's key may not approve this tool: deny it without asking.
            queue.put_nowait(f.tool_approval(call.id, "denied", "scope"))
            return False, f"scope (your key lacks approve:{tool_def.server}/{tool_def.tool})"
        if spec.approval == "yes":
            queue.put_nowait(f.tool_approval(call.id, "allowed", "user"))
            return True, "user"
        if spec.approval == "deny":
            queue.put_nowait(f.tool_approval(call.id, "denied", "policy"))
            return False, "policy (non-interactive run; pass --yes to allow)"
        future = self.approvals.open(call.id, f.run_id)
        queue.put_nowait(f.tool_approval(call.id, "pending", "user"))
        try:
            answer = await future
        finally:
            self.approvals.close(call.id, f.run_id)
        if answer == "always":
            try:
                self.tools.remember_allow(tool_def)
            except Exception as exc:
                log.warning("could not save the always-allow choice: %s", exc)
        allowed = answer in ("allow", "always")
        queue.put_nowait(f.tool_approval(call.id, "allowed" if allowed else "denied", "user"))
        return allowed, "user"


def may_approve(patterns: list[str] | None, tool_def: ToolDef) -> bool:
    """Whether a caller limited to ``patterns`` (``approve:`` scope values) may
    approve ``tool_def``; a pattern matches the model-facing name or ``server/tool``."""
    if patterns is None:
        return True

    names = (tool_def.name, f"{tool_def.server}/{tool_def.tool}")
    return any(fnmatchcase(n, p) for p in patterns for n in names)
