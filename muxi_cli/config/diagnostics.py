"""Turn pydantic validation errors into one clear :class:`ConfigError`.

Each problem names the file, the key path (``agents[1].modle``) and, for an
unknown key, the nearest valid key at that place in the schema.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.config.expand import KeyPath, format_path
from muxi_cli.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

MAX_PROBLEMS = 5
_SECRETISH = re.compile(r"(?i)(key|token|secret|password|passwd|credential|authorization)")
_SCALAR_TAGS = {"str", "int", "float", "bool", "none", "list", "dict"}

#: Maps a path in the validated document to (file, path inside that file).
Locator = Callable[[KeyPath], tuple[Path | None, KeyPath]]


def _is_model(tp: Any) -> bool:
    from pydantic import BaseModel  # deferred: pydantic is slow to import

    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_members(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def _tag_of(tp: Any) -> str:
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


class _Walk:
    """The result of following an error location through the schema."""

    def __init__(self) -> None:
        self.path: list[str | int] = []
        self.model: type[BaseModel] | None = None
        self.branch: str | None = None  # the union member an error belongs to
        self.union_at = 0  # len(path) where that union is


def _walk(root: type[BaseModel], loc: Sequence[str | int]) -> _Walk:
    """Follow ``loc`` through the annotations; drop union tags from the path.

    ``walk.model`` is the model that holds the last element of ``loc``.
    """
    walk = _Walk()
    current: Any = root
    for part in loc:
        members = _union_members(current)
        if members is not None:
            tagged = [m for m in members if _tag_of(m) == part]
            if tagged:
                walk.branch = str(part)
                walk.union_at = len(walk.path)
                current = tagged[0]
                continue
            models = [m for m in members if _is_model(m) or typing.get_origin(m) in (list, dict)]
            current = models[0] if models else None
        walk.path.append(part)
        walk.model = current if _is_model(current) else None
        current = _step(current, part)
    return walk


def _step(current: Any, part: str | int) -> Any:
    if current is None:
        return None
    if _is_model(current) and isinstance(part, str):
        info = current.model_fields.get(part)
        return info.annotation if info is not None else None
    origin = typing.get_origin(current)
    args = typing.get_args(current)
    if origin is list and isinstance(part, int) and args:
        return args[0]
    if origin is dict and isinstance(part, str) and len(args) == 2:
        return args[1]
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _suggest(word: str, choices: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _describe(err: dict[str, Any], walk: _Walk) -> tuple[str, str | None]:
    """(problem, suggestion-for-hint) for one pydantic error."""
    kind = err["type"]
    msg = str(err.get("msg", "invalid value"))
    value = err.get("input")
    last = walk.path[-1] if walk.path else None
    secret = any(isinstance(p, str) and _SECRETISH.search(p) for p in walk.path) or any(
        p in ("env", "headers") for p in walk.path
    )
    if kind == "extra_forbidden" and isinstance(last, str):
        choices = _field_names(walk.model) if walk.model else []
        best = _suggest(last, choices)
        problem = f"unknown key {last!r}"
        if best:
            problem += f" (did you mean {best!r}?)"
        hint = f"valid keys here: {', '.join(choices)}" if choices else None
        return problem, hint
    if kind == "missing":
        return "required key is missing", None
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        problem = msg.replace("Input should be", "should be")
        if isinstance(value, str) and not secret:
            problem += f", not {value!r}"
            best = _suggest(value, allowed)
            if best:
                problem += f" (did you mean {best!r}?)"
        return problem, None
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Input should be"):
        msg = "should be" + msg[len("Input should be") :]
        if isinstance(value, str | int | float | bool) and not secret and len(str(value)) <= 60:
            msg += f", not {value!r}"
    return msg, None


def _relevant(errors: list[dict[str, Any]], root: type[BaseModel]) -> list[dict[str, Any]]:
    """Keep the errors of the union branch the user meant.

    ``model: {provder: x}`` fails both as a string and as a ``{provider, model}``
    mapping; for a mapping only the mapping's errors help, for a scalar only the
    scalar's.
    """
    for err in errors:
        err["_walk"] = _walk(root, err["loc"])
    # The value at each union position: errors that stop there carry it.
    mapping_at: dict[tuple[Any, ...], bool] = {}
    for err in errors:
        walk: _Walk = err["_walk"]
        if walk.branch is None:
            continue
        key = tuple(walk.path[: walk.union_at])
        if len(walk.path) == walk.union_at:
            mapping_at.setdefault(key, isinstance(err.get("input"), dict | list))
        else:
            mapping_at[key] = True
    result: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for err in errors:
        walk = err["_walk"]
        if walk.branch is not None:
            is_mapping = mapping_at.get(tuple(walk.path[: walk.union_at]), False)
            if (walk.branch in _SCALAR_TAGS) == is_mapping:
                continue
        marker = (tuple(walk.path), err["type"])
        if marker in seen:
            continue
        seen.add(marker)
        result.append(err)
    return result or errors


def validation_error(
    exc: ValidationError,
    root: type[BaseModel],
    main_file: Path | None,
    locate: Locator,
) -> ConfigError:
    """Build one ConfigError from ``exc`` (up to :data:`MAX_PROBLEMS` problems)."""
    errors = _relevant([dict(e) for e in exc.errors(include_url=False)], root)
    name = str(main_file) if main_file else "the built-in formation"
    lines: list[str] = []
    hints: list[str] = []
    for err in errors[:MAX_PROBLEMS]:
        walk: _Walk = err["_walk"]
        problem, hint = _describe(err, walk)
        file, path = locate(tuple(walk.path))
        where = format_path(path)
        text = f"{where}: {problem}" if where else problem
        if len(errors) == 1:
            lines.append(f"{file or name}: {text}")
        else:
            lines.append(f"{file}: {text}" if file is not None and file != main_file else text)
        if hint and len(errors) == 1:
            hints.append(hint)
    if len(lines) == 1:
        message = lines[0]
    else:
        message = f"{name}: {len(errors)} problems\n" + "\n".join(f"  - {line}" for line in lines)
        if len(errors) > MAX_PROBLEMS:
            message += f"\n  ... and {len(errors) - MAX_PROBLEMS} more"
    hint_text = hints[0] if hints else "See docs/configuration.md for every key."
    return ConfigError(message, hint=hint_text)
