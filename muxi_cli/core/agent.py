"""The agent loop: one agent answering one turn, with tools, memory and delegation.

``AgentEngine.run(spec)`` yields events (docs/architecture.md, section 4) while it calls
the model, runs tool calls (several of one model turn concurrently), asks for
approval where policy says ``ask``, and persists everything as it goes.
Routing and session handling live in :mod:`muxi_cli.core.orchestrator`, the
tool calls of one model answer in :mod:`muxi_cli.core.tool_calls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from muxi_cli.config.schema import AgentConfig, Formation, ModelRef
from muxi_cli.core import memory_tool
from muxi_cli.core.approvals import ApprovalBroker
from muxi_cli.core.attachments import (
    Incoming,
    check_attachments,
    extract_events,
    outcome_media,
    store_attachments,
    tool_media,
    tool_refs,
)
from muxi_cli.core.cancel import CANCELLED, stop_reason
from muxi_cli.core.history import to_messages, truncate_for_model
from muxi_cli.core.media_gate import MediaGate
from muxi_cli.core.tool_calls import ToolCallRunner
from muxi_cli.core.writer import MessageStore, ReplyWriter
from muxi_cli.errors import MuxiError
from muxi_cli.llm.base import (
    LLMRequest,
    Message,
    ModelResolver,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    UsageChunk,
)
from muxi_cli.llm.capabilities import text_tool_call
from muxi_cli.media.prepare import prepare
from muxi_cli.memory.base import Context, MemoryHooks, Recalled
from muxi_cli.protocol.events import (
    USAGE,
    Event,
    EventFactory,
    RunCompleted,
)
from muxi_cli.protocol.messages import text_of
from muxi_cli.protocol.records import ApprovalMode, Attachment, SessionMessage
from muxi_cli.tools.base import ToolDef, ToolHost, ToolOutcome
from muxi_cli.tools.naming import delegate_name

log = logging.getLogger("muxi.agent")

#: How deep agents may delegate to each other (a delegate of a delegate of ...).
MAX_DELEGATION_DEPTH = 3


class ToolRoundsExceeded(MuxiError):
    code = "max_tool_rounds"


@dataclass(slots=True)
class TurnSpec:
    """Everything one agent needs to answer one message."""

    agent: AgentConfig
    session_id: str
    user_id: str
    message: str
    factory: EventFactory
    approval: ApprovalMode = "deny"
    #: Elicitations wait for the user even when approval is not interactive.
    elicit: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    model_override: str | None = None
    system_override: str | None = None
    stream: bool = True
    #: Glob patterns of the ``ask`` tools the caller may approve (None: any).
    approvable: list[str] | None = None
    #: Delegated runs are not written to the session (their answer is the tool result).
    persist: bool = True
    depth: int = 0
    #: Role of the ``muxi serve`` key behind the turn (None in-process).
    caller_role: str | None = None
    #: The attachments, already checked (the orchestrator does it before the
    #: session is created); ``None``: check ``attachments`` here.
    incoming: list[Incoming] | None = None


@dataclass(slots=True)
class _TurnState:
    #: The user message is in the session (a stopped turn gets a ``cancelled`` row).
    user_stored: bool = False
    #: An assistant row of this turn already carries the ``cancelled`` status.
    marked: bool = False


@dataclass(slots=True)
class _Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    #: False once a call reported no token counts (unknown is not zero).
    known: bool = True

    def add(self, chunk: UsageChunk) -> None:
        self.known = self.known and chunk.known
        self.input_tokens += chunk.input_tokens or 0
        self.output_tokens += chunk.output_tokens or 0


def build_system(
    agent: AgentConfig,
    override: str | None,
    summary: str | None,
    recalled: list[Recalled],
    search_tool: bool = False,
) -> str:
    parts = [override or agent.system_message]
    if summary:
        parts.append(f"Summary of the earlier conversation:\n{summary}")
    memories = [r for r in recalled if r.kind != "knowledge"]
    knowledge = [r for r in recalled if r.kind == "knowledge"]
    if memories:
        lines = "\n".join(f"- {r.text}" for r in memories)
        parts.append(f"What you know about this user (from earlier sessions):\n{lines}")
    if search_tool:
        parts.append(memory_tool.SYSTEM_HINT)
    if knowledge:
        lines = "\n".join(f"[{r.source or r.id}] {r.text}" for r in knowledge)
        parts.append(
            "Relevant knowledge (cite the source in brackets when you use it; where entries "
            "conflict, the user's own entries win over shared knowledge):\n" + lines
        )
    return "\n\n".join(p for p in parts if p)


class AgentEngine:
    """Runs agent turns against the model, tools and memory of one formation."""

    def __init__(
        self,
        formation: Formation,
        models: ModelResolver,
        tools: ToolHost,
        memory: MemoryHooks,
        store: MessageStore,
        approvals: ApprovalBroker,
    ) -> None:
        self.formation = formation
        self.models = models
        self.tools = tools
        self.memory = memory
        self.store = store
        self.approvals = approvals
        #: What the turn's model takes in media; the formation's transcriber.
        self.media_gate = MediaGate(formation, models)
        self.calls = ToolCallRunner(
            formation, tools, store, approvals, self._engine_call, models, self.media_gate
        )

    # ------------------------------------------------------------------ tools

    def delegate_tools(self, agent: AgentConfig, depth: int) -> list[ToolDef]:
        if depth >= MAX_DELEGATION_DEPTH:
            return []
        out = []
        for name in agent.delegates:
            target = self.formation.agent(name)
            if target is None:
                continue
            out.append(
                ToolDef(
                    name=delegate_name(name),
                    server="agent",
                    tool=name,
                    description=(
                        f"Ask the '{name}' agent and get its answer. It is for: "
                        f"{target.description or 'general questions'}. "
                        "Give it a complete, self-contained question."
                    ),
                    input_schema={
                        "type": "object",
                        "properties": {
                            "question": {
                                "type": "string",
                                "description": "The full question for the other agent.",
                            }
                        },
                        "required": ["question"],
                    },
                    policy="allow",
                    kind="delegate",
                )
            )
        return out

    async def _tools_for(self, agent: AgentConfig, depth: int) -> list[ToolDef]:
        """Tools offered to the model: never those whose policy is ``deny``."""
        try:
            tools = [t for t in await self.tools.tools_for(agent) if t.policy != "deny"]
        except Exception as exc:  # a broken tool source never breaks the turn
            log.warning("listing tools failed: %s", exc)
            tools = []
        return tools + self.delegate_tools(agent, depth)

    # ------------------------------------------------------------------- turn

    async def run(self, spec: TurnSpec) -> AsyncIterator[Event]:
        """Answer one message. Raises MuxiError on failure (the caller turns it
        into ``run.failed``). A cancelled turn keeps what was said and is stored
        as ``cancelled``, so the next turn's history shows it was stopped."""
        state = _TurnState()
        try:
            async with contextlib.aclosing(self._run(spec, state)) as events:
                async for event in events:
                    yield event
        except (asyncio.CancelledError, GeneratorExit):
            # Sync writes only: a closing generator may not await.
            if state.user_stored and not state.marked and spec.persist:
                self.store.add_message(
                    spec.session_id,
                    "assistant",
                    "",
                    agent=spec.agent.name,
                    run_id=spec.factory.run_id,
                    status=CANCELLED,
                    meta={"stopped": stop_reason()},
                )
            raise

    async def _run(self, spec: TurnSpec, state: _TurnState) -> AsyncGenerator[Event, None]:
        f = spec.factory
        agent = spec.agent
        model_ref = self.models.model_for(agent, spec.model_override)
        provider, model_name = self.models.resolve(model_ref)
        media = self.store.media.for_owner(spec.user_id)
        incoming = spec.incoming
        if incoming is None:
            incoming = await check_attachments(spec.attachments, media)
            self.media_gate.check(agent, spec.model_override, incoming)
        view = self.media_gate.view_for(agent, spec.model_override)
        parts, refs = store_attachments(spec.message, incoming, media)
        content = text_of(parts)
        store = self.store if spec.persist else None

        if store is not None:
            store.add_message(
                spec.session_id, "user", content, agent=agent.name, run_id=f.run_id, parts=parts
            )
            state.user_stored = True
        gate = self.media_gate
        hearing = gate.hearing() if refs else None
        ocr = not view.support.vision
        async for event in extract_events(refs, media, f, hearing, gate.video, ocr=ocr):
            yield event

        recalled: list[Recalled] = []
        if agent.memory.enabled and spec.depth == 0:
            try:
                recalled = await self.memory.recall(spec.user_id, agent, spec.message)
            except MuxiError as exc:
                log.warning("memory recall failed: %s", exc)
            if recalled:
                yield f.memory_recalled([r.to_event_item() for r in recalled])
        search_tool = await memory_tool.offered(
            self.memory, agent, spec.user_id, provider, spec.depth
        )

        limit = self.formation.tool_result_limit
        if store is not None:
            history = to_messages(store.messages(spec.session_id), limit, media=media.get)
        else:
            asked = SessionMessage(0, spec.session_id, 1, "user", content, parts=parts)
            history = to_messages([asked], limit, media=media.get)
        context = Context(history)
        if agent.memory.enabled and spec.persist:
            try:
                context = await self.memory.window(spec.session_id, agent, history)
            except MuxiError as exc:
                log.warning("memory window failed: %s", exc)
        system = build_system(agent, spec.system_override, context.summary, recalled, search_tool)
        conversation = list(context.messages)

        if spec.approval != "interactive" and agent.mcp_servers:
            # A scripted run waits (bounded by each server's startup_timeout) for the
            # agent's MCP servers, so its first model call sees their tools. The chat
            # app does not wait: a slow server's tools appear when it is ready.
            try:
                await self.tools.wait_ready(servers=agent.mcp_servers)
            except Exception as exc:
                log.warning("waiting for MCP servers failed: %s", exc)

        usage = _Usage()
        reply_parts: list[str] = []
        rounds = 0
        # `model: {provider, model, temperature, max_tokens}` (agent files) sets them
        # too; the agent's own keys win.
        model_cfg = agent.model if isinstance(agent.model, ModelRef) else None
        max_tokens = agent.max_tokens or (model_cfg.max_tokens if model_cfg else None)
        temperature = agent.temperature
        if temperature is None and model_cfg is not None:
            temperature = model_cfg.temperature
        while True:
            tools = await self._tools_for(agent, spec.depth)
            if search_tool and all(t.name != memory_tool.NAME for t in tools):
                tools.append(memory_tool.TOOL)  # a tool of that name the agent has wins
            by_name = {t.name: t for t in tools}
            request = LLMRequest(
                model=model_name,
                messages=await prepare(
                    conversation,
                    view,
                    cache=media,
                    transcriber=gate.hearing() if any(m.media for m in conversation) else None,
                    video=gate.video,
                ),
                system=system,
                tools=[t.spec for t in tools],
                max_tokens=max_tokens,
                temperature=temperature,
                stream=spec.stream,
            )
            writer = ReplyWriter(store, spec.session_id, agent.name, f.run_id)
            calls: list[ToolCall] = []
            separator_due = bool(reply_parts)
            status = "failed"
            call_usage = _Usage()
            call_start = time.monotonic()
            first_chunk: float | None = None
            try:
                async with _closing(provider.stream(request)) as stream:
                    async for chunk in stream:
                        if first_chunk is None and (
                            isinstance(chunk, ToolCallChunk)
                            or (isinstance(chunk, TextChunk) and chunk.text)
                        ):
                            first_chunk = time.monotonic()
                        if isinstance(chunk, TextChunk):
                            if not chunk.text:
                                continue
                            if separator_due:
                                separator_due = False
                                reply_parts.append("\n\n")
                                yield f.text_delta("\n\n")
                            writer.append(chunk.text)
                            reply_parts.append(chunk.text)
                            yield f.text_delta(chunk.text)
                        elif isinstance(chunk, ToolCallChunk):
                            calls.append(chunk.call)
                        elif isinstance(chunk, UsageChunk):
                            usage.add(chunk)
                            call_usage.add(chunk)
                status = "complete"
                call_end = time.monotonic()  # before the reply is written: the model's time only
            except (asyncio.CancelledError, GeneratorExit):
                status = CANCELLED
                raise
            finally:
                tool_calls = [
                    {
                        "id": c.id,
                        "name": c.name,
                        "arguments": c.arguments,
                        "server": by_name[c.name].server if c.name in by_name else None,
                        "tool": by_name[c.name].tool if c.name in by_name else c.name,
                    }
                    for c in calls
                ]
                meta: dict[str, Any] = {"model": model_ref}
                if status == "complete" and not calls:
                    meta["usage"] = self._usage_dict(model_ref, usage)
                if status == CANCELLED:
                    meta["stopped"] = stop_reason()
                    state.marked = writer.written or bool(tool_calls)
                writer.close(status=status, tool_calls=tool_calls or None, meta=meta)
            conversation.append(Message("assistant", writer.text, tool_calls=tuple(calls)))
            yield f.model_call(
                model_ref,
                round((call_end - call_start) * 1000),
                None if first_chunk is None else round((first_chunk - call_start) * 1000),
                call_usage.input_tokens,
                call_usage.output_tokens,
                unknown=not call_usage.known,
                finish="tool_calls" if calls else "stop",
            )
            if not calls and request.tools:
                written = text_tool_call(writer.text, by_name)
                if written is not None:
                    yield f.notice("tool_call_as_text", _text_call_notice(written, model_ref))
            if not calls:
                break
            rounds += 1
            if rounds > agent.max_tool_rounds:
                raise ToolRoundsExceeded(
                    f"agent '{agent.name}' stopped after {agent.max_tool_rounds} rounds of tool "
                    "calls without a final answer",
                    hint=f"raise max_tool_rounds for agent '{agent.name}' in muxi.yaml, "
                    "or ask a narrower question",
                )
            results: dict[str, tuple[ToolDef | None, ToolOutcome]] = {}
            async for event in self.calls.run(spec, calls, by_name, results):
                yield event
            for call in calls:
                _tool_def, outcome = results[call.id]
                items = outcome_media(outcome)
                refs_of = tool_refs(items, media) if spec.persist and items else None
                conversation.append(
                    Message(
                        "tool",
                        truncate_for_model(outcome.content, self.formation.tool_result_limit),
                        tool_call_id=call.id,
                        tool_name=call.name,
                        is_error=not outcome.ok,
                        media=tool_media(items, refs_of),
                    )
                )

        text = "".join(reply_parts)
        cost = self.models.price(model_ref, usage.input_tokens, usage.output_tokens)
        yield f.usage(model_ref, usage.input_tokens, usage.output_tokens, cost, not usage.known)
        yield f.run_completed(text)

    def _usage_dict(self, model_ref: str, usage: _Usage) -> dict[str, Any]:
        return {
            "model": model_ref,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": self.models.price(model_ref, usage.input_tokens, usage.output_tokens)
            if usage.known
            else None,
            **({} if usage.known else {"unknown": True}),
        }

    # ------------------------------------------------------------- delegation

    async def _engine_call(
        self,
        spec: TurnSpec,
        tool_def: ToolDef,
        call: ToolCall,
        queue: asyncio.Queue[Event | None],
    ) -> ToolOutcome:
        """Run a tool the engine serves itself: the memory search or a delegate agent."""
        if tool_def.kind == "memory":
            # The turn's own user: the arguments never say whose memory is searched.
            return await memory_tool.run(self.memory, spec.agent, spec.user_id, call.arguments)
        return await self._delegate(spec, tool_def, call, queue)

    async def _delegate(
        self,
        spec: TurnSpec,
        tool_def: ToolDef,
        call: ToolCall,
        queue: asyncio.Queue[Event | None],
    ) -> ToolOutcome:
        target = self.formation.agent(tool_def.tool)
        if target is None:
            return ToolOutcome(False, f"no agent named {tool_def.tool!r}")
        if spec.depth + 1 > MAX_DELEGATION_DEPTH:
            return ToolOutcome(
                False, f"delegation depth limit ({MAX_DELEGATION_DEPTH}) reached; answer yourself"
            )
        question = call.arguments.get("question")
        if not isinstance(question, str) or not question.strip():
            question = json.dumps(call.arguments, ensure_ascii=False)
        nested = EventFactory(
            spec.session_id, parent_run_id=spec.factory.run_id, depth=spec.depth + 1
        )
        sub = TurnSpec(
            agent=target,
            session_id=spec.session_id,
            user_id=spec.user_id,
            message=question,
            factory=nested,
            approval=spec.approval,
            elicit=spec.elicit,
            approvable=spec.approvable,
            model_override=None,
            stream=spec.stream,
            persist=False,
            depth=spec.depth + 1,
            caller_role=spec.caller_role,
        )
        queue.put_nowait(nested.run_started(target.name, spec.user_id))
        queue.put_nowait(
            nested.agent_routed(target.name, f"delegated by {spec.agent.name}", "explicit")
        )
        answer = ""
        try:
            async for event in self.run(sub):
                queue.put_nowait(event)
                if isinstance(event, RunCompleted) and event.run_id == nested.run_id:
                    answer = event.text
        except MuxiError as exc:
            queue.put_nowait(nested.run_failed(exc.code, exc.message, exc.hint))
            return ToolOutcome(False, f"the {target.name} agent failed: {exc.message}")
        return ToolOutcome(True, answer or "(the agent gave an empty answer)")


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[Any]) -> AsyncIterator[AsyncIterator[Any]]:
    """Always close a provider stream (and its HTTP response) when we stop reading."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


__all__ = [
    "MAX_DELEGATION_DEPTH",
    "USAGE",
    "AgentEngine",
    "ModelResolver",
    "TurnSpec",
]


def _text_call_notice(written: str, model_ref: str) -> str:
    provider = model_ref.split("/", 1)[0]
    return (
        f"{model_ref} wrote a tool call ({written}) as text instead of calling the tool; "
        "its server may not pass tools on. For llama-cpp-python set "
        f"`preset: llama-cpp-python` under providers.{provider} in muxi.yaml."
    )
