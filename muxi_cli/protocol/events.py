"""The one event schema (docs/architecture.md, section 4) and its codec.

Every turn is a stream of immutable events, one frozen dataclass per event
type. :func:`encode`/:func:`to_dict` give the exact JSON object that
``muxi chat --output jsonl`` prints, that SSE ``data:`` frames carry and that
WebSocket frames carry; :func:`decode` turns such an object (of schema
version 1 or 2) back into its class. An unknown type decodes to
:class:`UnknownEvent`, which keeps its fields and passes through.

Readers narrow with ``isinstance`` and read attributes::

    if isinstance(event, TextDelta):
        print(event.text)
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar

#: 2: typed events (every field of a known type is always present with its
#: type). The wire object is the same as in version 1; see docs/server.md.
SCHEMA_VERSION = 2

RUN_STARTED = "run.started"
AGENT_ROUTED = "agent.routed"
MEMORY_RECALLED = "memory.recalled"
TEXT_DELTA = "text.delta"
TOOL_REQUESTED = "tool.requested"
TOOL_APPROVAL = "tool.approval"
TOOL_RESULT = "tool.result"
TOOL_PROGRESS = "tool.progress"
USAGE = "usage"
MODEL_CALL = "model.call"
RUN_COMPLETED = "run.completed"
RUN_FAILED = "run.failed"
NOTICE = "notice"
MEDIA_PROCESSED = "media.processed"
MEDIA_FAILED = "media.failed"
TRANSCRIPT_DELTA = "transcript.delta"
AUDIO_DELTA = "audio.delta"

#: Envelope fields every event has on the wire (``parent_run_id`` and
#: ``depth`` are added for events of a delegated run).
ENVELOPE = ("v", "type", "run_id", "session_id", "ts")
_NESTING = ("parent_run_id", "depth")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def now_iso() -> str:
    """UTC timestamp with milliseconds, e.g. ``2026-11-24T04:35:44.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """The envelope every event has; subclasses add their typed fields.

    ``extra`` keeps wire fields this version does not know (from a newer
    server), so an event relayed by a client is not cut short.
    """

    type: ClassVar[str] = ""
    #: Fields left out of the wire object while they are None/False.
    omit_empty: ClassVar[frozenset[str]] = frozenset()

    run_id: str
    session_id: str
    ts: str = field(default_factory=now_iso)
    v: int = SCHEMA_VERSION
    parent_run_id: str | None = None
    depth: int = 0
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False)

    @property
    def known(self) -> bool:
        return not isinstance(self, UnknownEvent)

    @property
    def nested(self) -> bool:
        """True for events of a delegate agent, nested in the parent's stream."""
        return bool(self.parent_run_id)

    def fields(self) -> dict[str, Any]:
        """The type's own fields as they go on the wire."""
        out: dict[str, Any] = {}
        omit = self.omit_empty
        for name, _annotation in _own_fields(type(self)):
            value = getattr(self, name)
            if (value is None or value is False or value == ()) and name in omit:
                continue
            out[name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def to_json(self) -> str:
        return encode(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    type: ClassVar[str] = RUN_STARTED
    agent: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRouted(Event):
    """``router_model`` is set when the LLM router was asked, ``failure`` when
    its answer was not used (both are left off the wire otherwise)."""

    type: ClassVar[str] = AGENT_ROUTED
    omit_empty: ClassVar[frozenset[str]] = frozenset({"router_model", "failure"})
    agent: str
    reason: str = ""
    cached: bool = False
    method: str = ""
    router_model: str | None = None
    failure: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryRecalled(Event):
    type: ClassVar[str] = MEMORY_RECALLED
    items: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta(Event):
    type: ClassVar[str] = TEXT_DELTA
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRequested(Event):
    type: ClassVar[str] = TOOL_REQUESTED
    call_id: str
    server: str = ""
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolApproval(Event):
    """``decision``: ``pending`` (waiting for an answer), ``allowed`` or ``denied``."""

    type: ClassVar[str] = TOOL_APPROVAL
    call_id: str
    decision: str
    by: str = "policy"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolProgress(Event):
    """A running tool call's progress, as its MCP server reports it: ``progress``
    so far out of ``total`` (null when the server does not know), and the
    server's ``message`` (left out when it sent none)."""

    type: ClassVar[str] = TOOL_PROGRESS
    omit_empty: ClassVar[frozenset[str]] = frozenset({"message"})
    call_id: str
    progress: float
    total: float | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult(Event):
    """``media``: the media the tool returned, as stored (``MediaRef`` dicts),
    so a front end can show them; left out when there are none."""

    type: ClassVar[str] = TOOL_RESULT
    omit_empty: ClassVar[frozenset[str]] = frozenset({"media"})
    call_id: str
    ok: bool
    content: str = ""
    duration_ms: int | None = None
    media: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCall(Event):
    """One call to the model that answered, sent when it ended (``ts`` is its end).

    ``duration_ms`` runs from the request to the last chunk, ``first_chunk_ms``
    to the first text or tool call (``None`` when the model sent neither);
    ``finish`` is ``tool_calls`` when the reply asked for tools, else ``stop``.
    The tokens are this call's, for timing and tracing: they are already in the
    run's ``usage`` event, which is what totals add up (the usage rule,
    protocol/reduce.py). A call cut off by a failure or a cancel sends none.
    """

    type: ClassVar[str] = MODEL_CALL
    omit_empty: ClassVar[frozenset[str]] = frozenset({"unknown"})
    model: str
    duration_ms: int
    first_chunk_ms: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    unknown: bool = False
    finish: str = "stop"


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage(Event):
    """The tokens of the model calls one run made itself (never a delegate's).

    ``unknown``: some call reported no token counts (the server did not say),
    so the counts are a lower bound and the cost is ``None``.
    """

    type: ClassVar[str] = USAGE
    omit_empty: ClassVar[frozenset[str]] = frozenset({"unknown"})
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    unknown: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(Event):
    """Something the user should know that does not stop the run."""

    type: ClassVar[str] = NOTICE
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaProcessed(Event):
    """An attachment was read and what was derived from it (``derived``: e.g.
    ``["text", "ocr", "transcript", "frames"]``); ``meta`` has its size, type
    and, where known, ``width``/``height``/``pages``/``duration``."""

    type: ClassVar[str] = MEDIA_PROCESSED
    media_id: str
    name: str = ""
    media_type: str = ""
    derived: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaFailed(Event):
    """An attachment could not be processed; the run goes on without what
    failed (``code``, ``message`` as in an error)."""

    type: ClassVar[str] = MEDIA_FAILED
    media_id: str = ""
    name: str = ""
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptDelta(Event):
    """Text recognised in spoken input (``final``: the utterance is complete)."""

    type: ClassVar[str] = TRANSCRIPT_DELTA
    text: str
    final: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioDelta(Event):
    """A chunk of the spoken reply: ``data`` is base64 of ``media_type`` bytes;
    ``seq`` counts chunks from 0; ``final`` marks the last one."""

    type: ClassVar[str] = AUDIO_DELTA
    data: str
    media_type: str = "audio/mpeg"
    seq: int = 0
    final: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted(Event):
    type: ClassVar[str] = RUN_COMPLETED
    text: str = ""
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed(Event):
    """``error`` is ``{code, message, hint}`` (an error may add fields, e.g. ``scope``)."""

    type: ClassVar[str] = RUN_FAILED
    error: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return str(self.error.get("code") or "error")

    @property
    def message(self) -> str:
        return str(self.error.get("message") or "the run failed")

    @property
    def hint(self) -> str | None:
        hint = self.error.get("hint")
        return str(hint) if hint else None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """An event type this version does not know: kept whole and passed through."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    # The one class whose type is per instance, not a class constant.
    @property
    def type(self) -> str:  # type: ignore[override]
        return self.kind

    def fields(self) -> dict[str, Any]:
        return dict(self.data)


#: Every known event class by its wire type.
EVENT_TYPES: Mapping[str, type[Event]] = MappingProxyType(
    {
        cls.type: cls
        for cls in (
            RunStarted,
            AgentRouted,
            MemoryRecalled,
            TextDelta,
            ToolRequested,
            ToolApproval,
            ToolProgress,
            ToolResult,
            ModelCall,
            Usage,
            Notice,
            MediaProcessed,
            MediaFailed,
            TranscriptDelta,
            AudioDelta,
            RunCompleted,
            RunFailed,
        )
    }
)

_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(Event))


_OWN_FIELDS: dict[type[Event], tuple[tuple[str, str], ...]] = {}


def _own_fields(cls: type[Event]) -> tuple[tuple[str, str], ...]:
    """``(name, annotation)`` of a class's own fields, looked up once per class
    (every event is encoded and many are decoded: this is on the hot path)."""
    own = _OWN_FIELDS.get(cls)
    if own is None:
        own = tuple(
            (f.name, str(f.type)) for f in dataclasses.fields(cls) if f.name not in _BASE_FIELDS
        )
        _OWN_FIELDS[cls] = own
    return own


# -- codec ---------------------------------------------------------------------------


def to_dict(event: Event) -> dict[str, Any]:
    """The wire object: the envelope, then the type's fields, then nesting."""
    out: dict[str, Any] = {
        "v": event.v,
        "type": event.type,
        "run_id": event.run_id,
        "session_id": event.session_id,
        "ts": event.ts,
    }
    for key, value in (*event.fields().items(), *event.extra.items()):
        if key not in out:
            out[key] = _plain(value)
    if event.parent_run_id:
        out["parent_run_id"] = event.parent_run_id
        out["depth"] = event.depth
    return out


def encode(event: Event) -> str:
    """The JSON text of an event (one line, no trailing newline)."""
    return json.dumps(to_dict(event), ensure_ascii=False, separators=(",", ":"))


_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {value!r}")
    return int(value)


def _opt(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else conv(value)


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _items(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    return tuple(_dict(v) for v in value if isinstance(v, Mapping))


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(str(v) for v in value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


#: How a wire value becomes a field's type (annotations are strings here).
_CONVERTERS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "str": str,
        "str | None": _opt(str),
        "int": _int,
        "int | None": _opt(_int),
        "float": _float,
        "float | None": _opt(_float),
        "bool": _bool,
        "dict[str, Any]": _dict,
        "tuple[dict[str, Any], ...]": _items,
        "tuple[str, ...]": _strings,
    }
)


def from_fields(
    type_: str,
    run_id: str,
    session_id: str,
    /,
    *,
    ts: str | None = None,
    v: int = SCHEMA_VERSION,
    **fields: Any,
) -> Event:
    """Build the event of ``type_`` from loose fields (a decoded wire object,
    a scripted fake). Missing fields take their defaults; unknown fields are
    kept in ``extra``. Raises ``ValueError`` when a required field is missing
    or a value has the wrong type."""
    parent = fields.pop("parent_run_id", None)
    depth = fields.pop("depth", None)
    envelope: dict[str, Any] = {
        "run_id": run_id,
        "session_id": session_id,
        "ts": ts or now_iso(),
        "v": v,
        "parent_run_id": str(parent) if parent else None,
        "depth": _int(depth) if depth is not None else (1 if parent else 0),
    }
    cls = EVENT_TYPES.get(type_)
    if cls is None:
        return UnknownEvent(kind=type_, data=MappingProxyType(dict(fields)), **envelope)
    kwargs: dict[str, Any] = {}
    for name, annotation in _own_fields(cls):
        if name not in fields:
            continue
        value = fields.pop(name)
        if value is None and "None" not in annotation:
            continue  # null where a value belongs: as if left out (its default)
        try:
            kwargs[name] = _CONVERTERS[annotation](value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{type_} event: field {name!r}: {exc}") from None
    if fields:
        envelope["extra"] = MappingProxyType(fields)
    try:
        return cls(**envelope, **kwargs)
    except TypeError as exc:  # a required field is missing
        raise ValueError(f"{type_} event: {exc}") from None


def decode(data: str | bytes | Mapping[str, Any]) -> Event:
    """Decode an event from JSON text or an already parsed object.

    Objects of schema version 1 and 2 decode alike; unknown event types become
    :class:`UnknownEvent`. Raises ``ValueError`` when the object is not an
    event at all (or a known event's field has the wrong type).
    """
    obj: Any = json.loads(data) if isinstance(data, (str, bytes)) else data
    if not isinstance(obj, Mapping) or not isinstance(obj.get("type"), str):
        raise ValueError("not a muxi event: expected a JSON object with a string 'type'")
    rest = {k: v for k, v in obj.items() if k not in ENVELOPE}
    try:
        version = int(obj.get("v") or SCHEMA_VERSION)
    except (TypeError, ValueError):
        raise ValueError(f"not a muxi event: bad schema version {obj.get('v')!r}") from None
    return from_fields(
        obj["type"],
        str(obj.get("run_id") or ""),
        str(obj.get("session_id") or ""),
        ts=str(obj.get("ts") or "") or None,
        v=version,
        **rest,
    )


# -- building events of one run ------------------------------------------------------


class EventFactory:
    """Stamps events of one run with its ids.

    ``parent_run_id``/``depth`` are set for delegated runs so their events can
    be nested in the parent's stream.
    """

    __slots__ = ("_env", "run_id", "session_id", "started")

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
        self._env: dict[str, Any] = {"run_id": self.run_id, "session_id": session_id}
        if parent_run_id:
            self._env.update(parent_run_id=parent_run_id, depth=depth)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    # Typed constructors, one per event type -------------------------------------------

    def run_started(self, agent: str, user_id: str | None) -> RunStarted:
        return RunStarted(agent=agent, user_id=user_id, **self._env)

    def agent_routed(
        self,
        agent: str,
        reason: str,
        method: str,
        cached: bool = False,
        router_model: str | None = None,
        failure: str | None = None,
    ) -> AgentRouted:
        return AgentRouted(
            agent=agent,
            reason=reason,
            method=method,
            cached=cached,
            router_model=router_model,
            failure=failure,
            **self._env,
        )

    def memory_recalled(self, items: list[dict[str, Any]]) -> MemoryRecalled:
        return MemoryRecalled(items=tuple(items), **self._env)

    def text_delta(self, text: str) -> TextDelta:
        return TextDelta(text=text, **self._env)

    def tool_requested(
        self, call_id: str, server: str, tool: str, arguments: Mapping[str, Any]
    ) -> ToolRequested:
        return ToolRequested(
            call_id=call_id, server=server, tool=tool, arguments=dict(arguments), **self._env
        )

    def tool_approval(self, call_id: str, decision: str, by: str) -> ToolApproval:
        return ToolApproval(call_id=call_id, decision=decision, by=by, **self._env)

    def tool_progress(
        self, call_id: str, progress: float, total: float | None, message: str | None
    ) -> ToolProgress:
        return ToolProgress(
            call_id=call_id, progress=progress, total=total, message=message or None, **self._env
        )

    def tool_result(
        self,
        call_id: str,
        ok: bool,
        content: str,
        duration_ms: int,
        media: tuple[dict[str, Any], ...] = (),
    ) -> ToolResult:
        return ToolResult(
            call_id=call_id,
            ok=ok,
            content=content,
            duration_ms=duration_ms,
            media=tuple(media),
            **self._env,
        )

    def model_call(
        self,
        model: str,
        duration_ms: int,
        first_chunk_ms: int | None,
        input_tokens: int,
        output_tokens: int,
        *,
        unknown: bool = False,
        finish: str = "stop",
    ) -> ModelCall:
        return ModelCall(
            model=model,
            duration_ms=duration_ms,
            first_chunk_ms=first_chunk_ms,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            unknown=unknown,
            finish=finish,
            **self._env,
        )

    def usage(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float | None,
        unknown: bool = False,
    ) -> Usage:
        """``unknown``: some call of the run reported no token counts."""
        return Usage(
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=None if unknown else cost_usd,
            unknown=unknown,
            **self._env,
        )

    def run_completed(self, text: str) -> RunCompleted:
        return RunCompleted(text=text, duration_ms=self.elapsed_ms(), **self._env)

    def notice(self, code: str, message: str) -> Notice:
        """Something the user should know that does not stop the run."""
        return Notice(code=code, message=message, **self._env)

    def run_failed(self, code: str, message: str, hint: str | None = None) -> RunFailed:
        return RunFailed(error={"code": code, "message": message, "hint": hint}, **self._env)

    def media_processed(
        self, media_id: str, name: str, media_type: str, derived: list[str], meta: dict[str, Any]
    ) -> MediaProcessed:
        return MediaProcessed(
            media_id=media_id,
            name=name,
            media_type=media_type,
            derived=tuple(derived),
            meta=dict(meta),
            **self._env,
        )

    def media_failed(self, media_id: str, name: str, code: str, message: str) -> MediaFailed:
        return MediaFailed(media_id=media_id, name=name, code=code, message=message, **self._env)

    def transcript_delta(self, text: str, final: bool = False) -> TranscriptDelta:
        return TranscriptDelta(text=text, final=final, **self._env)

    def audio_delta(self, data: str, media_type: str, seq: int, final: bool) -> AudioDelta:
        return AudioDelta(data=data, media_type=media_type, seq=seq, final=final, **self._env)
