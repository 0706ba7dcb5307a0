"""One turn end to end: session, routing, the agent loop, memory afterwards."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from muxi_cli.config.schema import Formation
from muxi_cli.core.agent import AgentEngine, TurnSpec
from muxi_cli.core.approvals import ApprovalBroker
from muxi_cli.core.attachments import Incoming, check_attachments
from muxi_cli.core.history import to_messages
from muxi_cli.core.router import (
    RouteCache,
    Router,
    mistyped_mention,
    unknown_agent,
)
from muxi_cli.errors import UsageError
from muxi_cli.llm.base import ModelResolver
from muxi_cli.memory.base import MemoryHooks
from muxi_cli.protocol.events import Event, EventFactory, RunCompleted
from muxi_cli.protocol.mentions import split_mention
from muxi_cli.protocol.messages import MediaRef
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.tools.base import ToolHost

if TYPE_CHECKING:
    from muxi_cli.stores.sessions import SessionStore

log = logging.getLogger("muxi.orchestrator")

#: Messages of the session the router sees (it also gets the previous agent).
ROUTER_WINDOW_MESSAGES = 12


class Orchestrator:
    """Routes each message to an agent and runs that agent's turn."""

    def __init__(
        self,
        formation: Formation,
        models: ModelResolver,
        tools: ToolHost,
        memory: MemoryHooks,
        store: SessionStore,
        approvals: ApprovalBroker,
        cache: RouteCache,
    ) -> None:
        self.formation = formation
        self.store = store
        self.memory = memory
        self.router = Router(formation, models, cache)
        self.engine = AgentEngine(formation, models, tools, memory, store, approvals)
        self._background: set[asyncio.Task[None]] = set()
        #: Sessions whose memory extraction is running, and those with another turn
        #: to extract after it (see :meth:`_after_turn`).
        self._extracting: set[str] = set()
        self._again: dict[str, tuple[str, str]] = {}

    async def admit(self, request: ChatRequest, user_id: str) -> list[Incoming]:
        """Check a request's attachments before its turn starts, so a bad file
        is a plain error (exit 2, HTTP 4xx) with nothing stored: each one read
        for what it is, media ids looked up in the caller's own store, and, when
        the agent is known without routing, images refused for a model without
        vision. Pass the result to :meth:`turn`."""
        incoming = await check_attachments(
            list(request.attachments), self.store.media.for_owner(user_id)
        )
        names = self.router.names
        mention, _message = split_mention(request.message, names)
        known = request.agent or mention or (names[0] if len(names) == 1 else None)
        agent = self.formation.agent(known) if known else None
        if agent is not None and incoming:
            self.engine.media_gate.check(agent, request.model, incoming)
        return incoming

    async def turn(
        self,
        request: ChatRequest,
        user_id: str,
        *,
        run_id: str | None = None,
        session_id: str | None = None,
        incoming: list[Incoming] | None = None,
    ) -> AsyncIterator[Event]:
        """Run one turn. Raises MuxiError before the first event when the
        request itself is wrong (unknown session or agent, empty message, a bad
        attachment; ``incoming``: the attachments :meth:`admit` checked).

        ``run_id`` and ``session_id`` (of a new session) are the ids the runtime
        promised its caller before the turn started (see protocol/turn.py)."""
        session = None
        if request.session_id:
            session_id = self.store.resolve_id(request.session_id, user_id)
            session = self.store.get_session(session_id, user_id)
        names = self.router.names
        mention, message = split_mention(request.message, names)
        typo = mistyped_mention(request.message, names) if request.agent is None else None
        if typo is not None:
            raise unknown_agent(typo, names)
        if not message.strip() and not request.attachments:
            raise UsageError("the message is empty", hint="type a message, or pipe text on stdin")
        window = []
        if session is not None and request.agent is None and mention is None and len(names) > 1:
            stored = self.store.messages(session.id)[-ROUTER_WINDOW_MESSAGES:]
            window = to_messages(stored, 500)
        decision = await self.router.route(
            message,
            explicit=request.agent or mention,
            window=window,
            previous_agent=session.agent if session is not None else None,
        )
        agent = self.formation.agent(decision.agent)
        assert agent is not None
        # Fail on a missing provider before anything is written (no empty sessions).
        models = self.engine.models
        models.resolve(models.model_for(agent, request.model))
        # Bad attachments (and images for a model without vision) fail here too:
        # nothing stored, no session, no model call.
        if incoming is None:
            incoming = await check_attachments(
                list(request.attachments), self.store.media.for_owner(user_id)
            )
        self.engine.media_gate.check(agent, request.model, incoming)
        if session is None:
            session = self.store.create_session(
                user_id, title=request.title or "", agent=agent.name, session_id=session_id
            )
        else:
            self.store.set_agent(session.id, agent.name)

        factory = EventFactory(session.id, run_id)
        yield factory.run_started(agent.name, user_id)
        yield factory.agent_routed(
            agent.name,
            decision.reason,
            decision.method,
            decision.cached,
            router_model=decision.router_model,
            failure=decision.failure,
        )
        if decision.usage is not None:
            model_ref, tokens_in, tokens_out = decision.usage
            yield factory.usage(
                model_ref, tokens_in, tokens_out, models.price(model_ref, tokens_in, tokens_out)
            )
        spec = TurnSpec(
            agent=agent,
            session_id=session.id,
            user_id=user_id,
            message=message,
            factory=factory,
            approval=request.approval,
            elicit=request.elicit,
            attachments=list(request.attachments),
            model_override=request.model,
            system_override=request.system,
            approvable=request.approvable,
            stream=request.stream,
            caller_role=request.caller_role,
            incoming=incoming,
        )
        completed = False
        async for event in self.engine.run(spec):
            if isinstance(event, RunCompleted) and not event.nested:
                completed = True
            yield event
        if completed and agent.memory.enabled and agent.memory.long_term:
            self._after_turn(user_id, agent.name, session.id)

    def _after_turn(self, user_id: str, agent_name: str, session_id: str) -> None:
        """Extract memories from the session in the background.

        One extraction per session at a time: when turns come faster than
        extraction, the turns that arrive meanwhile are folded into one more run
        after it (it reads the history then and extracts from where the last run
        stopped), so background work stays bounded by the number of sessions.
        """
        if session_id in self._extracting:
            self._again[session_id] = (user_id, agent_name)
            return
        agent = self.formation.agent(agent_name)
        if agent is None:
            return
        # Stopped requests are left out: nothing is learnt from what the user took back.
        # Media reach extraction as their placeholder and derived text, never bytes.
        media = self.store.media.for_owner(user_id)

        def derived_text(ref: MediaRef) -> str | None:
            found = media.get_derived(ref.id, "text")
            return found.decode("utf-8", "replace") if found else None

        history = to_messages(
            self.store.messages(session_id),
            self.formation.tool_result_limit,
            stopped="drop",
            text=derived_text,
        )

        async def job() -> None:
            try:
                await self.memory.after_turn(user_id, agent, session_id, history)
            except Exception as exc:  # memory extraction never breaks chat
                log.warning("memory extraction failed: %s", exc)

        def done(task: asyncio.Task[None]) -> None:
            self._background.discard(task)
            self._extracting.discard(session_id)
            again = self._again.pop(session_id, None)
            if again is not None and not task.cancelled():
                self._after_turn(again[0], again[1], session_id)

        self._extracting.add(session_id)
        task = asyncio.create_task(job())
        self._background.add(task)
        task.add_done_callback(done)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait (bounded) for background work such as memory extraction."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # A finished extraction may start the one folded behind it: wait for those too.
        while self._background and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._background), timeout=left)
        self._again.clear()
        pending = set(self._background)
        for task in pending:
            task.cancel()
        if pending:
            log.info(
                "memory extraction did not finish within %.1f s; it runs again after a later turn",
                timeout,
            )
            # Let the cancelled calls hang up on the model server before providers close.
            await asyncio.wait(pending, timeout=1.0)
