"""Values, references and matchers of the client contract scenarios (clients/contract/README.md).

Pure functions, no client and no server: :func:`resolve` makes a step's values
(``${t1.session_id}``, ``$fill``, ``$base64``), :func:`mismatch` and
:func:`subsequence` say why an actual JSON value does not match an expected one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

_REF = re.compile(r"\$\{([^}]+)\}")
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


class ScenarioFailed(AssertionError):
    """A step did not do what the scenario says."""


# -- values ---------------------------------------------------------------------------


def lookup(scope: dict[str, Any], ref: str) -> Any:
    """``name.path.to.value`` in ``scope`` (README "Values and references")."""
    name, *path = ref.split(".")
    if name not in scope:
        raise ScenarioFailed(f"unknown reference ${{{ref}}}")
    value = scope[name]
    for part in path:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise ScenarioFailed(f"${{{ref}}}: no {part!r} in {short(value)}")
    return value


def resolve(value: Any, scope: dict[str, Any]) -> Any:
    """References replaced, ``$fill`` and ``$base64`` made; matchers left alone."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return lookup(scope, whole.group(1))
        return _REF.sub(lambda m: text_of(lookup(scope, m.group(1))), value)
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$fill"}:
            return "x" * int(value["$fill"])
        if set(value) == {"$base64"}:
            return base64.b64decode(resolve(value["$base64"], scope), validate=True)
        return {k: resolve(v, scope) for k, v in value.items()}
    return value


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def plain(value: Any) -> Any:
    """A client's answer in its JSON form (bytes as base64 text)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "to_dict"):
        return plain(value.to_dict())
    return value


def short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


# -- matchers -------------------------------------------------------------------------


def mismatch(actual: Any, expected: Any, where: str = "$") -> str | None:
    """Why ``actual`` does not match ``expected`` (README "Matchers"), or None."""
    if isinstance(expected, dict) and expected and all(k.startswith("$") for k in expected):
        for op, arg in expected.items():
            why = _operator(actual, op, arg, where)
            if why:
                return why
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {short(actual)}"
        for key, sub in expected.items():
            if key not in actual:
                return f"{where}: no key {key!r} in {short(actual)}"
            why = mismatch(actual[key], sub, f"{where}.{key}")
            if why:
                return why
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: expected {len(expected)} items, got {short(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            why = mismatch(a, e, f"{where}[{i}]")
            if why:
                return why
        return None
    if _equal(actual, expected):
        return None
    return f"{where}: expected {short(expected)}, got {short(actual)}"


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True != 1 and "1" != 1."""
    if _TYPES["number"](a) and _TYPES["number"](b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _operator(actual: Any, op: str, arg: Any, where: str) -> str | None:
    ok: bool
    if op == "$gt":
        ok = _TYPES["number"](actual) and actual > arg
    elif op == "$ne":
        ok = not _equal(actual, arg)
    elif op == "$in":
        ok = any(_equal(actual, v) for v in arg)
    elif op == "$startswith":
        ok = isinstance(actual, str) and actual.startswith(arg)
    elif op == "$contains":
        if isinstance(actual, str):
            ok = isinstance(arg, str) and arg in actual
        else:
            ok = isinstance(actual, list) and any(mismatch(a, arg) is None for a in actual)
    elif op == "$type":
        ok = _TYPES[arg](actual)
    else:
        raise ScenarioFailed(f"{where}: unknown matcher {op}")
    return None if ok else f"{where}: expected {op} {short(arg)}, got {short(actual)}"


def subsequence(items: list[Any], wanted: list[Any]) -> str | None:
    """Why ``wanted`` (matchers) is not an ordered subsequence of ``items``, or None."""
    at = 0
    for n, want in enumerate(wanted):
        while at < len(items) and mismatch(items[at], want) is not None:
            at += 1
        if at == len(items):
            return f"item {n} ({short(want)}) not found in order"
        at += 1
    return None
