"""Input an MCP server asks for mid-call: elicitation and sampling.

The SDK calls the client's ``elicitation_callback`` / ``sampling_callback``
when a tool (or prompt, or resource) needs input. Who should answer is the
turn that made the call, so the tool runner sets :data:`CURRENT_INPUT` to that
turn's :class:`InputChannel` around the call:

- on protocol 2026-07-28 the server answers ``input_required`` and the SDK
  runs the callbacks in the caller's own task (``mcp/client/_input_required.py``),
  so the context variable is simply there;
- on older protocols the request arrives on the session's reader task, where
  the caller's context is not: :class:`InFlight` remembers the channels of the
  calls running on a connection, and a request is routed to the one caller
  waiting; with several callers of different turns it is declined (muxi cannot
  tell whose it is, and must not ask the wrong user).

No channel at all (``muxi mcp call``, a prompt read from the CLI) declines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

log = logging.getLogger("muxi.mcp")

Action = Literal["accept", "decline", "cancel"]
ACTIONS: tuple[str, ...] = ("accept", "decline", "cancel")


@dataclass(frozen=True, slots=True)
class ElicitRequest:
    """What a server asks the user: a form (``schema``) or a page to open (``url``)."""

    server: str
    message: str
    mode: Literal["form", "url"] = "form"
    schema: dict[str, Any] = field(default_factory=dict)
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ElicitAnswer:
    action: Action
    content: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SampleMedia:
    """An image or audio clip of a sampling message: checked bytes, their real type."""

    #: The index in :attr:`SampleRequest.messages` of the message it belongs to.
    message: int
    kind: Literal["image", "audio"]
    media_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class SampleRequest:
    """A server's request for a completion, as plain data (roles and texts, and
    the messages' images and audio)."""

    server: str
    messages: tuple[tuple[str, str], ...]
    max_tokens: int
    system_prompt: str | None = None
    temperature: float | None = None
    stop_sequences: tuple[str, ...] = ()
    media: tuple[SampleMedia, ...] = ()


@dataclass(frozen=True, slots=True)
class SampleAnswer:
    text: str
    model: str
    stop_reason: str = "endTurn"


class SamplingRefused(Exception):
    """The user or the policy did not allow a sampling request (its message says why)."""


class InputChannel(Protocol):
    """How one turn answers what its MCP calls ask."""

    async def elicit(self, request: ElicitRequest) -> ElicitAnswer: ...

    async def sample(self, request: SampleRequest) -> SampleAnswer: ...


CURRENT_INPUT: ContextVar[InputChannel | None] = ContextVar("muxi_mcp_input", default=None)
#: Set inside :meth:`InFlight.call`: the task is a caller's, whose context decides.
_IN_CALL: ContextVar[bool] = ContextVar("muxi_mcp_in_call", default=False)


class InFlight:
    """The input channels of the calls running on one connection (see the module doc)."""

    def __init__(self) -> None:
        self._channels: dict[int, InputChannel | None] = {}
        self._limits: dict[int, asyncio.Timeout | None] = {}
        self._next = 0

    @contextlib.contextmanager
    def call(self, limit: asyncio.Timeout | None = None) -> Iterator[None]:
        """Around one call; ``limit`` is its ``call_timeout``, paused while the user answers."""
        # A request with nobody to ask (a prompt or resource read over the
        # server's routes, a dev call) is in flight too: a question may be its.
        channel = CURRENT_INPUT.get()
        self._next += 1
        key = self._next
        self._channels[key] = channel
        self._limits[key] = limit
        inside = _IN_CALL.set(True)
        try:
            yield
        finally:
            _IN_CALL.reset(inside)
            self._channels.pop(key, None)
            self._limits.pop(key, None)

    @contextlib.contextmanager
    def user_time(self, channel: InputChannel) -> Iterator[None]:
        """The time a user takes to answer does not count against ``call_timeout``."""
        loop = asyncio.get_running_loop()
        paused: list[tuple[asyncio.Timeout, float]] = []
        for key, owner in self._channels.items():
            limit = self._limits.get(key)
            when = limit.when() if limit is not None else None
            if owner is channel and limit is not None and when is not None:
                paused.append((limit, when - loop.time()))
                limit.reschedule(None)
        try:
            yield
        finally:
            for limit, left in paused:
                if not limit.expired():
                    limit.reschedule(loop.time() + max(left, 0.0))

    def channel(self) -> InputChannel | None:
        """The caller's channel: the context's, else the only one waiting here."""
        channel = CURRENT_INPUT.get()
        if channel is not None or _IN_CALL.get():
            # The caller's own task (protocol 2026-07-28): its channel, or
            # nobody; never another caller's turn.
            return channel
        distinct = {id(c): c for c in self._channels.values()}
        if len(distinct) == 1:
            return next(iter(distinct.values()))
        if len(distinct) > 1:
            log.warning("an MCP server asked for input while several callers wait on it: declined")
        return None


#: Bounds on what a server may ask in one elicitation (its text reaches events,
#: stored runs and every front end).
MESSAGE_MAX = 4000
FIELDS_MAX = 50
SCHEMA_CHARS_MAX = 32_000


def unfit_request(message: str, schema: dict[str, Any]) -> str | None:
    """Why an elicitation cannot be shown (None: it can): MCP allows a flat
    object of primitive fields only, and muxi bounds its size."""
    import json  # deferred: only elicitations need it

    if len(message) > MESSAGE_MAX:
        return f"the message is longer than {MESSAGE_MAX} characters"
    props = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(props, dict) or not all(isinstance(p, dict) for p in props.values()):
        return "the schema's properties are not an object of field schemas"
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return "the schema's required is not a list of field names"
    if len(props) > FIELDS_MAX:
        return f"the schema asks more than {FIELDS_MAX} fields"
    try:
        size = len(json.dumps(schema, default=str))
    except (TypeError, ValueError):
        return "the schema is not JSON"
    if size > SCHEMA_CHARS_MAX:
        return f"the schema is larger than {SCHEMA_CHARS_MAX} characters"
    return None


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
}


def check_answer(action: str, content: Any, schema: dict[str, Any]) -> ElicitAnswer:
    """An answer from a front end or a remote user, checked: a known action, and
    for ``accept`` the fields the (flat) schema requires, of their types."""
    from muxi_cli.errors import UsageError  # deferred: only answers need it

    if action not in ACTIONS:
        raise UsageError(
            f"unknown elicitation action {action!r}", hint=f"use one of: {', '.join(ACTIONS)}"
        )
    if action != "accept":
        return ElicitAnswer(action)  # type: ignore[arg-type]
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise UsageError("elicitation content must be an object of the requested fields")
    if unfit_request("", schema) is not None:
        raise UsageError("this elicitation's schema cannot be answered")
    props: dict[str, Any] = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in content:
            raise UsageError(f"elicitation content lacks the required field {name!r}")
    for name, value in content.items():
        if name not in props:
            raise UsageError(f"elicitation content has a field the server did not ask: {name!r}")
        want = _TYPES.get(str(props[name].get("type", "")))
        if want and (not isinstance(value, want) or (bool not in want and isinstance(value, bool))):
            raise UsageError(f"elicitation field {name!r} must be of type {props[name]['type']}")
        options = props[name].get("enum")
        if isinstance(options, list) and value not in options:
            raise UsageError(f"elicitation field {name!r} must be one of the server's choices")
    return ElicitAnswer("accept", dict(content))
