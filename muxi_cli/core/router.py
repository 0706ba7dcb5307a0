"""Choosing the agent for a message: explicit, single, LLM router, default.

The router model answers through a forced tool call (``choose_agent`` with an
enum of agent names and a one-line reason), never free text. Decisions are
cached by normalised message, the previous agent and the agent set; a cache
hit skips the router call entirely.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Literal

from muxi_cli.config.schema import AgentConfig, Formation
from muxi_cli.core.route_cache import RouteCache
from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.llm.base import (
    Completion,
    LLMRequest,
    Message,
    ModelResolver,
    ToolSpec,
    complete,
)
from muxi_cli.protocol.mentions import leading_mention

log = logging.getLogger("muxi.router")

Method = Literal["explicit", "single", "llm", "cached", "default"]
ROUTER_TOOL = "choose_agent"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    agent: str
    method: Method
    reason: str
    cached: bool = False
    #: ``(model_ref, input_tokens, output_tokens)`` of the router call, if one was made.
    usage: tuple[str, int, int] | None = None
    #: The router model, when the LLM router was asked (also when it failed).
    router_model: str | None = None
    #: Why the router's answer was not used (a :data:`FailureKind`), else None.
    failure: str | None = None


#: Why a router call gave no usable choice; ``agent.routed`` carries it as ``failure``.
FailureKind = Literal[
    "timeout", "no_tool_call", "refused", "invalid_answer", "unknown_agent", "http_error", "error"
]


class RouterFailure(Exception):
    """The router model answered, but not with a usable choice."""

    def __init__(
        self, kind: FailureKind, detail: str, usage: tuple[str, int, int] | None = None
    ) -> None:
        super().__init__(detail)
        self.kind: FailureKind = kind
        self.detail = detail
        self.usage = usage


def mistyped_mention(message: str, agents: list[str]) -> str | None:
    """``"@codr fix this"`` -> ``"codr"`` when it is close to an agent's name but
    not one (an ``@word`` far from every name is ordinary text)."""
    mention = leading_mention(message)
    if mention is None or mention.name in agents:
        return None
    name = mention.name
    return name if difflib.get_close_matches(name, agents, n=1, cutoff=0.75) else None


def agents_fingerprint(agents: list[AgentConfig]) -> str:
    data = json.dumps([[a.name, a.description] for a in agents], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def unknown_agent(name: str, agents: list[str]) -> NotFoundError:
    near = difflib.get_close_matches(name, agents, n=1)
    hint = f"did you mean '{near[0]}'? " if near else ""
    return NotFoundError(
        f"no agent named {name!r}",
        hint=f"{hint}agents in this formation: {', '.join(agents)} (see `muxi agents list`)",
    )


class Router:
    """Routes a message to an agent of ``formation``."""

    def __init__(self, formation: Formation, models: ModelResolver, cache: RouteCache) -> None:
        self.formation = formation
        self.models = models
        self.cache = cache
        self._fingerprint = agents_fingerprint(formation.agents)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.formation.agents]

    def set_formation(self, formation: Formation) -> None:
        """Swap the formation; decisions for a changed agent set are dropped."""
        fingerprint = agents_fingerprint(formation.agents)
        if fingerprint != self._fingerprint:
            self.cache.clear()
        self.formation = formation
        self._fingerprint = fingerprint

    async def route(
        self,
        message: str,
        *,
        explicit: str | None = None,
        window: list[Message] | None = None,
        previous_agent: str | None = None,
    ) -> RouteDecision:
        names = self.names
        if explicit:
            if explicit not in names:
                raise unknown_agent(explicit, names)
            return RouteDecision(explicit, "explicit", "chosen by the user")
        if len(names) == 1:
            return RouteDecision(names[0], "single", "the only agent")

        key = self.cache.key(message, previous_agent, self._fingerprint)
        hit = self.cache.get(key)
        if hit is not None and hit[0] in names:
            return RouteDecision(hit[0], "cached", hit[1], cached=True)

        model_ref = self._model_ref()
        timeout = self.formation.router.timeout
        try:
            agent, reason, usage = await asyncio.wait_for(
                self._ask(message, window or [], previous_agent, model_ref), timeout=timeout
            )
            if agent not in names:
                raise RouterFailure("unknown_agent", f"named an unknown agent {agent!r}", usage)
        except RouterFailure as exc:
            return self._fallback(model_ref, exc.kind, exc.detail, exc.usage)
        except TimeoutError:
            return self._fallback(
                model_ref, "timeout", f"timed out after {timeout:g}s (router.timeout)"
            )
        except MuxiError as exc:  # the provider's message says what (HTTP status, no key, ...)
            return self._fallback(model_ref, _error_kind(exc), f"failed: {exc.message}")
        except Exception as exc:  # never let routing break a turn
            log.warning("router error: %s", exc, exc_info=True)
            return self._fallback(model_ref, "error", f"failed: {type(exc).__name__}: {exc}")
        self.cache.put(key, agent, reason)
        return RouteDecision(agent, "llm", reason, usage=usage, router_model=model_ref)

    def _model_ref(self) -> str:
        try:
            return self.formation.router.model or self.models.model_for(self.formation.default)
        except Exception:  # reported when the router is asked; the name is only for messages
            return self.formation.router.model or "the default agent's model"

    def _fallback(
        self,
        model_ref: str,
        kind: FailureKind,
        detail: str,
        usage: tuple[str, int, int] | None = None,
    ) -> RouteDecision:
        """The default agent, with a reason that says what went wrong and with which model."""
        default = self.formation.default.name
        detail = " ".join(detail.split())
        if len(detail) > 240:
            detail = detail[:239] + "…"
        log.warning("router (%s) failed [%s]: %s", model_ref, kind, detail)
        return RouteDecision(
            default,
            "default",
            f"the router ({model_ref}) {detail}; using the default agent {default!r}",
            usage=usage,
            router_model=model_ref,
            failure=kind,
        )

    async def _ask(
        self, message: str, window: list[Message], previous_agent: str | None, model_ref: str
    ) -> tuple[str, str, tuple[str, int, int]]:
        models = self.models
        provider, model_name = models.resolve(model_ref)
        names = self.names
        roster = "\n".join(
            f"- {a.name}: {a.description or '(no description)'}" for a in self.formation.agents
        )
        recent = []
        for msg in window[-self.formation.router.window :]:
            if msg.role in ("user", "assistant") and msg.content:
                recent.append(f"{msg.role}: {msg.content[:500]}")
        context = "\n".join(recent) or "(new conversation)"
        system = (
            "You route each user message to the single best agent. Agents:\n"
            f"{roster}\n\n"
            "Keep follow-ups with the agent that answered before unless the topic clearly "
            "changes. Call choose_agent exactly once."
        )
        prompt = (
            f"Recent conversation:\n{context}\n\n"
            f"Agent that answered last: {previous_agent or 'none'}\n\n"
            f"New message:\n{message[:4000]}"
        )
        tool = ToolSpec(
            ROUTER_TOOL,
            "Choose the agent that should answer the message.",
            {
                "type": "object",
                "properties": {
                    "agent": {"type": "string", "enum": names},
                    "reason": {"type": "string", "description": "One short line: why this agent."},
                },
                "required": ["agent", "reason"],
            },
        )
        result = await complete(
            provider,
            LLMRequest(
                model=model_name,
                messages=[Message("user", prompt)],
                system=system,
                tools=[tool],
                tool_choice=ROUTER_TOOL,
                max_tokens=200,
                temperature=0.0,
                stream=False,
                timeout=self.formation.router.timeout,
            ),
        )
        usage = (model_ref, result.input_tokens, result.output_tokens)
        return (*_choice(result, usage), usage)


def _error_kind(exc: MuxiError) -> FailureKind:
    if exc.code == "timeout":
        return "timeout"
    if exc.code in _HTTP_CODES or "HTTP" in exc.message:
        return "http_error"
    return "error"


#: Error codes of provider errors that came with an HTTP status.
_HTTP_CODES = ("auth_error", "model_not_found", "context_too_long", "rate_limited")


def _choice(result: Completion, usage: tuple[str, int, int]) -> tuple[str, str]:
    """``(agent, reason)`` from the router's answer, or RouterFailure saying what it was."""
    for call in result.tool_calls:
        if call.name == ROUTER_TOOL and isinstance(call.arguments.get("agent"), str):
            reason = str(call.arguments.get("reason") or "chosen by the router")
            return str(call.arguments["agent"]), " ".join(reason.split())[:200]
    if result.tool_calls:
        call = result.tool_calls[0]
        shown = json.dumps(call.arguments, ensure_ascii=False)[:120]
        raise RouterFailure(
            "invalid_answer", f"gave an invalid answer: {call.name}({shown}) names no agent", usage
        )
    if result.stop_reason in ("refusal", "content_filter"):
        raise RouterFailure(
            "refused", f"refused to choose (stop reason {result.stop_reason!r})", usage
        )
    text = " ".join(result.text.split())
    if not text:
        raise RouterFailure("no_tool_call", "returned an empty answer with no tool call", usage)
    shown = text if len(text) <= 80 else text[:79] + "…"
    raise RouterFailure(
        "no_tool_call", f"answered in prose instead of calling {ROUTER_TOOL}: {shown!r}", usage
    )
