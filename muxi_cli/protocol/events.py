"""The one event schema (docs/architecture.md, section 3) and its codec.

Every turn is a stream of immutable :class:`Event` objects. ``Event.to_dict()``
is the exact JSON object that ``muxi chat --output jsonl`` prints, that SSE
``data:`` frames carry and that WebSocket frames carry. :func:`decode` turns
such an object back into an :class:`Event`; unknown types pass through.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

SCHEMA_VERSION = 1

RUN_STARTED = "run.started"
AGENT_ROUTED = "agent.routed"
MEMORY_RECALLED = "memory.recalled"
TEXT_DELTA = "text.delta"
TOOL_REQUESTED = "tool.requested"
TOOL_APPROVAL = "tool.approval"
TOOL_RESULT = "tool.result"
USAGE = "usage"
RUN_COMPLETED = "run.completed"
RUN_FAILED = "run.failed"
NOTICE = "notice"

#: Known types and the payload fields each one carries.
EVENT_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        RUN_STARTED: ("agent", "user_id"),
        AGENT_ROUTED: ("agent", "reason", "cached", "method"),
        MEMORY_RECALLED: ("items",),
        TEXT_DELTA: ("text",),
        TOOL_REQUESTED: ("call_id", "server", "tool", "arguments"),
        TOOL_APPROVAL: ("call_id", "decision", "by"),
        TOOL_RESULT: ("call_id", "ok", "content", "duration_ms"),
        USAGE: ("model", "input_tokens", "output_tokens", "cost_usd", "unknown"),
        RUN_COMPLETED: ("text", "duration_ms"),
        RUN_FAILED: ("error",),
        NOTICE: ("code", "message"),
    }
)

#: Envelope fields every event has.
ENVELOPE = ("v", "type", "run_id", "session_id", "ts")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def now_iso() -> str:
    """UTC timestamp with milliseconds, e.g. ``2026-11-24T04:35:44.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable event of a run.

    ``payload`` holds the type-specific fields. Extra optional envelope data
    (``parent_run_id`` and ``depth`` for events of a delegated agent) lives in
    the payload too, so the wire object stays flat.
    """

    type: str
    run_id: str
    session_id: str
    payload: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    ts: str = field(default_factory=now_iso)
    v: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.payload, MappingProxyType):
            object.__setattr__(self, "payload", MappingProxyType(dict(self.payload)))

    def get(self, key: str, default: Any = None) -> Any:
        return self.payload.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.payload[key]

    @property
    def known(self) -> bool:
        return self.type in EVENT_FIELDS

    @property
    def nested(self) -> bool:
        """True for events of a delegate agent, nested in the parent's stream."""
        return bool(self.payload.get("parent_run_id"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": self.v,
            "type": self.type,
            "run_id": self.run_id,
            "session_id": self.session_id,
            "ts": self.ts,
        }
        for key, value in self.payload.items():
            if key not in out:
                out[key] = _plain(value)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def encode(event: Event) -> str:
    """The JSON text of an event (one line, no trailing newline)."""
    return event.to_json()


def decode(data: str | bytes | Mapping[str, Any]) -> Event:
    """Decode an event from JSON text or an already parsed object.

    Unknown event types and unknown fields are kept as they are.
    Raises ``ValueError`` when the object is not an event at all.
    """
    obj: Any = json.loads(data) if isinstance(data, (str, bytes)) else data
    if not isinstance(obj, Mapping) or not isinstance(obj.get("type"), str):
        raise ValueError("not a muxi event: expected a JSON object with a string 'type'")
    payload = {k: v for k, v in obj.items() if k not in ENVELOPE}
    return Event(
        type=obj["type"],
        run_id=str(obj.get("run_id") or ""),
        session_id=str(obj.get("session_id") or ""),
        payload=payload,
        ts=str(obj.get("ts") or now_iso()),
        v=int(obj.get("v") or SCHEMA_VERSION),
    )


class EventFactory:
    """Stamps events of one run with its ids.

    ``parent_run_id``/``depth`` are set for delegated runs so their events can
    be nested in the parent's stream.
    """

    __slots__ = ("_extra", "run_id", "session_id", "started")

    def __init__(
        self,
        session_id: str,
        run_id: str | None = None,
        *,
        parent_run_id: str | None = None,
        depth: int = 0,
    ) -> None:
        self.run_id = run_id or new_id("run")
        self.session_id = session_id
        self.started = time.monotonic()
        self._extra: dict[str, Any] = {}
        if parent_run_id:
            self._extra = {"parent_run_id": parent_run_id, "depth": depth}

    def make(self, type_: str, **payload: Any) -> Event:
        if self._extra:
            payload = {**payload, **self._extra}
        return Event(type=type_, run_id=self.run_id, session_id=self.session_id, payload=payload)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    # Typed constructors, one per event type -------------------------------------------

    def run_started(self, agent: str, user_id: str) -> Event:
        return self.make(RUN_STARTED, agent=agent, user_id=user_id)

    def agent_routed(
        self,
        agent: str,
        reason: str,
        method: str,
        cached: bool = False,
        router_model: str | None = None,
        failure: str | None = None,
    ) -> Event:
        extra: dict[str, Any] = {}
        if router_model is not None:  # the LLM router was asked (present only then)
            extra["router_model"] = router_model
        if failure is not None:  # why its answer was not used (present only then)
            extra["failure"] = failure
        return self.make(
            AGENT_ROUTED, agent=agent, reason=reason, cached=cached, method=method, **extra
        )

    def memory_recalled(self, items: list[dict[str, Any]]) -> Event:
        return self.make(MEMORY_RECALLED, items=items)

    def text_delta(self, text: str) -> Event:
        return self.make(TEXT_DELTA, text=text)

    def tool_requested(
        self, call_id: str, server: str, tool: str, arguments: Mapping[str, Any]
    ) -> Event:
        return self.make(
            TOOL_REQUESTED, call_id=call_id, server=server, tool=tool, arguments=dict(arguments)
        )

    def tool_approval(self, call_id: str, decision: str, by: str) -> Event:
        return self.make(TOOL_APPROVAL, call_id=call_id, decision=decision, by=by)

    def tool_result(self, call_id: str, ok: bool, content: str, duration_ms: int) -> Event:
        return self.make(
            TOOL_RESULT, call_id=call_id, ok=ok, content=content, duration_ms=duration_ms
        )

    def usage(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float | None,
        unknown: bool = False,
    ) -> Event:
        """``unknown``: some call of the run reported no token counts (the server
        did not say), so the counts are a lower bound and the cost is ``None``."""
        extra = {"unknown": True} if unknown else {}
        return self.make(
            USAGE,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=None if unknown else cost_usd,
            **extra,
        )

    def run_completed(self, text: str) -> Event:
        return self.make(RUN_COMPLETED, text=text, duration_ms=self.elapsed_ms())

    def notice(self, code: str, message: str) -> Event:
        """Something the user should know that does not stop the run."""
        return self.make(NOTICE, code=code, message=message)

    def run_failed(self, code: str, message: str, hint: str | None = None) -> Event:
        return self.make(RUN_FAILED, error={"code": code, "message": message, "hint": hint})
