"""Arguments made up from a JSON Schema: valid examples and a few invalid ones.

:func:`example` builds a value that satisfies a schema, preferring what the
schema itself suggests: ``const``, ``default``, ``examples``, ``enum``, a
quoted example in the description (``e.g. 'Europe/Paris'``), a ``format``,
then the type with its bounds (``minimum``, ``minLength``, ``minItems``...).
Objects get their required properties only, so a call touches as little as
possible. :func:`invalid_examples` returns a couple of argument sets that
break the schema (a required property left out, a property of the wrong
type), which a well-behaved server must reject with an error, not a crash.

Schemas from servers can be anything: every function here is total and
bounded (``$ref`` depth, recursion), and never raises on odd input.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

MAX_DEPTH = 8
_EG = re.compile(
    r"(?:e\.g\.,?|for example,?|such as|example:)\s*[\"'`\u2018\u201c]([^\"'`\u2019\u201d]{1,80})[\"'`\u2019\u201d]",
    re.IGNORECASE,
)
_FORMATS: dict[str, str] = {
    "date": "2026-01-15",
    "time": "12:00:00",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "/example",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
    "duration": "PT1M",
    "json-pointer": "/example",
    "regex": "^example$",
}
_MISSING = object()


def _resolve(schema: Any, root: dict[str, Any], depth: int) -> Any:
    """Follow local ``$ref`` (``#/$defs/X``, ``#/definitions/X``)."""
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < MAX_DEPTH:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            return {}
        node: Any = root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                return {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**node, **rest} if isinstance(node, dict) else node
        seen += 1
    return schema


def properties(schema: Any) -> dict[str, Any]:
    """The ``properties`` of an object schema (``{}`` when absent or malformed)."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    return props if isinstance(props, dict) else {}


def flatten(schema: Any, root: dict[str, Any]) -> Any:
    """``schema`` with its ``allOf`` parts merged in (properties and required combined)."""
    schema = _resolve(schema, root, 0)
    if not isinstance(schema, dict) or not isinstance(schema.get("allOf"), list):
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    merged["properties"] = dict(properties(merged))
    merged["required"] = list(merged.get("required") or [])
    for part in schema["allOf"]:
        part = flatten(part, root)
        if not isinstance(part, dict):
            continue
        merged["properties"].update(properties(part))
        merged["required"] += [r for r in part.get("required") or [] if r not in merged["required"]]
        for key, value in part.items():
            if key not in ("properties", "required"):
                merged.setdefault(key, value)
    return merged


def types_of(schema: Any) -> list[str]:
    """The JSON types a schema allows (``[]`` when it does not say)."""
    if not isinstance(schema, dict):
        return []
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            out: list[str] = []
            for option in options:
                out.extend(t for t in types_of(option) if t not in out)
            return out
    if "properties" in schema:
        return ["object"]
    if "items" in schema:
        return ["array"]
    return []


def type_label(schema: Any, root: dict[str, Any] | None = None) -> str:
    """A short type for tables: ``string``, ``integer | null``, ``array of string``, ``enum``."""
    schema = _resolve(schema, root or {}, 0) if root is not None else schema
    if not isinstance(schema, dict):
        return "any"
    if "const" in schema:
        return "const"
    if isinstance(schema.get("enum"), list):
        return "enum"
    kinds = types_of(schema)
    if kinds == ["array"]:
        items = (
            _resolve(schema.get("items"), root or {}, 0)
            if root is not None
            else schema.get("items")
        )
        inner = types_of(items)
        return f"array of {' | '.join(inner)}" if inner else "array"
    return " | ".join(kinds) if kinds else "any"


def _hinted(schema: dict[str, Any]) -> Any:
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if "example" in schema:
        return schema["example"]
    return _MISSING


#: Format words in descriptions ("Time in 24-hour format (HH:MM)") and a value for each.
_SHAPES = (
    ("YYYY-MM-DDTHH:MM", "2026-01-15T12:00:00"),
    ("YYYY-MM-DD", "2026-01-15"),
    ("HH:MM:SS", "12:00:00"),
    ("HH:MM", "12:00"),
)


def _described(schema: dict[str, Any]) -> str | None:
    text = str(schema.get("description") or "")
    found = _EG.search(text)
    if found:
        return found.group(1).strip()
    for shape, value in _SHAPES:
        if shape in text:
            return value
    return None


def _string(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return _dt.datetime(2026, 1, 15, 12, 0, tzinfo=_dt.UTC).isoformat()
    value = _FORMATS.get(str(fmt)) if fmt else None
    if value is None:
        value = _described(schema) or "example"
    min_len = schema.get("minLength")
    max_len = schema.get("maxLength")
    if isinstance(min_len, int) and len(value) < min_len:
        value = (value * (min_len // max(len(value), 1) + 1))[: max(min_len, len(value))]
    if isinstance(max_len, int) and max_len >= 0 and len(value) > max_len:
        value = value[:max_len]
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _matches(pattern, value):
        guess = _from_pattern(pattern)
        if guess is not None:
            value = guess
    return value


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return True


def _from_pattern(pattern: str) -> str | None:
    """A few common shapes of ``pattern`` (digits, letters, simple literals)."""
    candidates = [
        "1",
        "12",
        "123",
        "a",
        "ab",
        "abc",
        "A",
        "ABC",
        "a1",
        "2026-01-15",
        "12:00",
        "x-1",
    ]
    for candidate in candidates:
        if _matches(pattern, candidate):
            return candidate
    return None


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    xlow = schema.get("exclusiveMinimum")
    xhigh = schema.get("exclusiveMaximum")
    step = 1 if integer else 0.5
    lo = low if isinstance(low, int | float) and not isinstance(low, bool) else None
    if isinstance(xlow, int | float) and not isinstance(xlow, bool):
        lo = xlow + step if lo is None else max(lo, xlow + step)
    hi = high if isinstance(high, int | float) and not isinstance(high, bool) else None
    if isinstance(xhigh, int | float) and not isinstance(xhigh, bool):
        hi = xhigh - step if hi is None else min(hi, xhigh - step)
    value: float = 1
    if lo is not None and value < lo:
        value = lo
    if hi is not None and value > hi:
        value = hi if lo is None or hi >= lo else lo
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and not isinstance(multiple, bool) and multiple > 0:
        value = math.ceil(value / multiple) * multiple
    if integer:
        return math.ceil(value) if lo is not None and value > int(value) else int(value)
    return int(value) if float(value).is_integer() else value


def example(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A value that satisfies ``schema`` (as far as a generator without a solver can)."""
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    schema = _resolve(schema, root, depth)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None if depth > MAX_DEPTH else "example"
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    hinted = _hinted(schema)
    if hinted is not _MISSING:
        return hinted
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return next((v for v in enum if v is not None), enum[0])
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            chosen = next(
                (o for o in options if types_of(_resolve(o, root, depth)) != ["null"]), options[0]
            )
            return example(chosen, root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        return example(flatten(schema, root), root, depth + 1)
    kinds = [k for k in types_of(schema) if k != "null"] or types_of(schema)
    kind = kinds[0] if kinds else "string"
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return _number(schema, integer=True)
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, list):  # tuple form (old drafts)
            return [example(i, root, depth + 1) for i in items]
        count = schema.get("minItems")
        count = count if isinstance(count, int) and count > 0 else 1
        max_items = schema.get("maxItems")
        if isinstance(max_items, int) and max_items >= 0:
            count = min(count, max_items)
        values = [
            example(items if items is not None else {}, root, depth + 1)
            for _ in range(min(count, 10))
        ]
        if (
            schema.get("uniqueItems")
            and len(values) > 1
            and all(isinstance(v, int) for v in values)
        ):
            values = [v + i for i, v in enumerate(values)]
        return values
    return object_example(schema, root, depth)


def object_example(
    schema: dict[str, Any], root: dict[str, Any], depth: int = 0, *, full: bool = False
) -> dict[str, Any]:
    """Required properties (all of them with ``full``) with example values."""
    props = properties(schema)
    required = [r for r in (schema.get("required") or []) if isinstance(r, str)]
    names = list(props) if full else [r for r in required]
    out: dict[str, Any] = {}
    for name in names:
        out[name] = example(props.get(name, {}), root, depth + 1)
    min_props = schema.get("minProperties")
    if isinstance(min_props, int) and len(out) < min_props:
        for name in props:
            if len(out) >= min_props:
                break
            out.setdefault(name, example(props[name], root, depth + 1))
    return out


def arguments_example(input_schema: Any, *, full: bool = False) -> dict[str, Any]:
    """Example arguments for a tool's ``inputSchema``."""
    if not isinstance(input_schema, dict):
        return {}
    schema = flatten(input_schema, input_schema)
    if not isinstance(schema, dict):
        return {}
    return object_example(schema, input_schema, full=full)


def is_valid(value: Any, schema: Any) -> bool | None:
    """Whether ``value`` satisfies ``schema`` (None when the schema itself is broken)."""
    from jsonschema import SchemaError  # deferred: jsonschema is slow to import
    from jsonschema.validators import validator_for  # deferred: jsonschema is slow to import

    if not isinstance(schema, dict):
        return None
    try:
        cls = validator_for(schema)
        cls.check_schema(schema)
        return bool(cls(schema).is_valid(value))
    except (SchemaError, Exception):
        return None


def _wrong_value(schema: Any, root: dict[str, Any]) -> Any:
    schema = _resolve(schema, root, 0)
    kinds = types_of(schema)
    if "string" not in kinds:
        return "not-a-" + (kinds[0] if kinds else "value")
    if "object" not in kinds:
        return {"unexpected": True}
    return 12345


def invalid_examples(input_schema: Any) -> list[tuple[str, dict[str, Any]]]:
    """At most two argument sets that break ``input_schema``, with a label each."""
    if not isinstance(input_schema, dict):
        return []
    schema = flatten(input_schema, input_schema)
    if not isinstance(schema, dict):
        return []
    props = properties(schema)
    required = [r for r in (schema.get("required") or []) if isinstance(r, str)]
    valid = arguments_example(input_schema)
    out: list[tuple[str, dict[str, Any]]] = []
    if required:
        missing = dict(valid)
        missing.pop(required[0], None)
        if is_valid(missing, input_schema) is not True:
            out.append((f"missing required {required[0]!r}", missing))
    for name in required + [p for p in props if p not in required]:
        wrong = dict(valid)
        wrong[name] = _wrong_value(props.get(name, {}), input_schema)
        if is_valid(wrong, input_schema) is False:
            out.append((f"wrong type for {name!r}", wrong))
            break
    return out
