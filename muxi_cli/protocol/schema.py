"""The JSON Schema (2020-12) of every event type, derived from the dataclasses
in :mod:`muxi_cli.protocol.events`.

It is the schema-version-2 promise written as data: an event of a known type
has the envelope and every field of its type, each with its type; fields the
codec leaves off while empty (``omit_empty``) are the only optional ones, and
when present they hold a value (never null). Fields this version does not know
are allowed (a newer server may add some), so ``additionalProperties`` is open.

The document is committed as ``docs/api/events.schema.json`` and served at
``GET /v1/schema/events``; the clients' types are generated from it, and a
test checks that what a real server emits validates against it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from muxi_cli.protocol import events
from muxi_cli.protocol.apiversion import API_VERSION

DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: A field's schema by its annotation (annotations are strings: postponed).
_TYPES: Mapping[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "str | None": {"type": ["string", "null"]},
    "int": {"type": "integer"},
    "int | None": {"type": ["integer", "null"]},
    "float": {"type": "number"},
    "float | None": {"type": ["number", "null"]},
    "bool": {"type": "boolean"},
    "dict[str, Any]": {"type": "object"},
    "tuple[dict[str, Any], ...]": {"type": "array", "items": {"type": "object"}},
    "tuple[str, ...]": {"type": "array", "items": {"type": "string"}},
}

#: Where the dataclass says less than the wire promises (its docstring says it).
_REFINED: Mapping[tuple[str, str], dict[str, Any]] = {
    ("tool.approval", "decision"): {"type": "string", "enum": ["pending", "allowed", "denied"]},
    ("run.failed", "error"): {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "hint": {"type": ["string", "null"]},
        },
        "required": ["code", "message"],
    },
}

#: The envelope every event has, in wire order.
_ENVELOPE: dict[str, dict[str, Any]] = {
    "v": {"type": "integer", "minimum": 1, "description": "event schema version"},
    "type": {"type": "string"},
    "run_id": {"type": "string"},
    "session_id": {"type": "string"},
    "ts": {"type": "string", "format": "date-time", "description": "UTC, milliseconds"},
}
#: Only on events of a delegated run, nested in the parent's stream.
_NESTING: dict[str, dict[str, Any]] = {
    "parent_run_id": {"type": "string", "description": "set on a delegate's events"},
    "depth": {"type": "integer", "minimum": 1, "description": "a delegate's nesting depth"},
}


def _describe(cls: type) -> str | None:
    """The class docstring as one paragraph (the base class's is not the type's)."""
    doc = cls.__doc__ if "__doc__" in vars(cls) else None
    if not doc or doc.startswith(f"{cls.__name__}("):  # dataclass's generated signature
        return None
    return re.sub(r"\s+", " ", doc).strip()


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [k for k in kind if k != "null"]
        return {**schema, "type": rest[0] if len(rest) == 1 else rest}
    return schema


def event_schema(cls: type[events.Event]) -> dict[str, Any]:
    """The schema of one event type."""
    props: dict[str, Any] = {name: dict(s) for name, s in _ENVELOPE.items()}
    props["type"] = {"type": "string", "const": cls.type}
    required = list(_ENVELOPE)
    base = {f.name for f in dataclasses.fields(events.Event)}
    for f in dataclasses.fields(cls):
        if f.name in base:
            continue
        annotation = str(f.type)
        if annotation not in _TYPES:
            raise TypeError(f"{cls.__name__}.{f.name}: no JSON Schema for {annotation!r}")
        schema = dict(_REFINED.get((cls.type, f.name)) or _TYPES[annotation])
        if f.name in cls.omit_empty:
            schema = _without_null(schema)  # left off while empty, never null
        else:
            required.append(f.name)
        props[f.name] = schema
    props.update((name, dict(s)) for name, s in _NESTING.items())
    out: dict[str, Any] = {"title": cls.__name__, "type": "object"}
    description = _describe(cls)
    if description:
        out["description"] = description
    out["properties"] = props
    out["required"] = required
    out["additionalProperties"] = True  # a newer server's fields pass through
    return out


def events_schema() -> dict[str, Any]:
    """The whole document: ``$defs`` one per event type keyed by class name,
    the top level ``oneOf`` of them (``type`` tells which)."""
    classes = sorted(events.EVENT_TYPES.values(), key=lambda c: c.__name__)
    return {
        "$schema": DIALECT,
        "title": "muxi events",
        "description": (
            f"Every event of a muxi run as it goes on the wire (SSE data, WebSocket "
            f"event frames, `muxi chat --output jsonl`): event schema version "
            f"{events.SCHEMA_VERSION}, API {API_VERSION}. Fields a type does not list "
            f"may appear (a newer server) and should be kept or ignored."
        ),
        "x-api-version": API_VERSION,
        "x-event-schema-version": events.SCHEMA_VERSION,
        "oneOf": [{"$ref": f"#/$defs/{cls.__name__}"} for cls in classes],
        "$defs": {cls.__name__: event_schema(cls) for cls in classes},
    }


def type_names() -> dict[str, str]:
    """Wire type -> ``$defs`` name (``"text.delta"`` -> ``"TextDelta"``)."""
    return {wire: cls.__name__ for wire, cls in sorted(events.EVENT_TYPES.items())}
