"""Local Python functions as tools: ``tools: [{python: "package.module:function"}]``.

The JSON schema comes from the type hints (through a pydantic model built from
the signature) and the docstring: its summary becomes the description, its
``Args:`` section (or ``:param x:`` lines) the parameter descriptions. Sync
functions run in a daemon thread that a cancel abandons (so Ctrl-C and timeouts
take effect at once), async ones on the loop. An exception becomes
a failed :class:`ToolOutcome` (``"ExceptionType: message"``) the model sees.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, create_model

from muxi_cli.errors import ConfigError
from muxi_cli.threads import run_abandonable
from muxi_cli.tools.base import ToolOutcome

_PARAM_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:[\w\[\], ]+\s+)?(\w+)\s*:\s*(.*)$")
_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Returns|Return|Yields|Raises|Examples?|Notes?|Keyword Args)\s*:\s*$"
)


@dataclass(frozen=True, slots=True)
class ParsedDoc:
    summary: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> ParsedDoc:
    """The summary and per-parameter descriptions of a Google/Sphinx docstring."""
    if not doc:
        return ParsedDoc("", {})
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    in_summary = True
    for line in lines:
        sphinx = _SPHINX_PARAM.match(line)
        if sphinx:
            in_summary = False
            current = sphinx.group(1)
            params[current] = sphinx.group(2).strip()
            section = "sphinx"
            continue
        header = _SECTION.match(line)
        if header:
            in_summary = False
            section = header.group(1).lower()
            current = None
            continue
        if in_summary:
            if not line.strip():
                if summary:
                    in_summary = False
                continue
            summary.append(line.strip())
            continue
        if section in ("args", "arguments", "parameters", "params", "keyword args"):
            match = _PARAM_LINE.match(line)
            indent = len(line) - len(line.lstrip())
            if match and indent <= 4:
                current = match.group(1).lstrip("*")
                params[current] = match.group(3).strip()
            elif current and line.strip():
                params[current] = f"{params[current]} {line.strip()}".strip()
        elif section == "sphinx" and current and line.startswith((" ", "\t")) and line.strip():
            params[current] = f"{params[current]} {line.strip()}".strip()
    return ParsedDoc(" ".join(summary), params)


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's auto-generated ``title`` keys (noise for the model)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {k: _strip_titles(v) for k, v in value.items()}
            else:
                out[key] = _strip_titles(value)
        return out
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


class PythonTool:
    """One Python function, its schema and its argument validator."""

    def __init__(self, ref: str, fn: Callable[..., Any]) -> None:

        self.ref = ref
        self.fn = fn
        self.name = getattr(fn, "__name__", ref.rsplit(":", 1)[-1].rsplit(".", 1)[-1])
        self.is_async = inspect.iscoroutinefunction(fn)
        doc = parse_docstring(inspect.getdoc(fn))
        self.description = doc.summary or f"Python function {ref}"
        try:
            hints = _type_hints(fn)
            signature = inspect.signature(fn)
        except (TypeError, ValueError, NameError) as exc:
            raise ConfigError(
                f"python tool {ref!r}: cannot read its signature ({exc})",
                "Use plain type hints that Python can evaluate.",
            ) from exc
        fields: dict[str, Any] = {}
        self._positional_only: list[str] = []
        for pname, param in signature.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if param.kind is param.POSITIONAL_ONLY:
                self._positional_only.append(pname)
            annotation = hints.get(pname, Any)
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (annotation, Field(default, description=doc.params.get(pname) or None))
        self.model = create_model(
            f"{self.name}_arguments",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
            **fields,
        )
        schema = _strip_titles(self.model.model_json_schema())
        schema.setdefault("properties", {})
        schema["type"] = "object"
        self.input_schema: dict[str, Any] = schema

    async def call(self, arguments: dict[str, Any]) -> ToolOutcome:

        try:
            parsed = self.model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors()
            )
            return ToolOutcome(ok=False, content=f"invalid arguments for {self.name}: {problems}")
        values = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        args = [values.pop(name) for name in self._positional_only]
        try:
            if self.is_async:
                result = await self.fn(*args, **values)
            else:
                # A daemon thread a cancel can abandon (see muxi_cli/threads.py).
                result = await run_abandonable(f"python tool {self.ref}", self.fn, *args, **values)
                if inspect.isawaitable(result):
                    result = await result
        except Exception as exc:
            return ToolOutcome(ok=False, content=f"{type(exc).__name__}: {exc}")
        return to_outcome(result)


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:

    target = fn
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)) and callable(fn):
        target = fn.__call__  # type: ignore[operator]
    return typing.get_type_hints(target, include_extras=True)


def to_outcome(result: Any) -> ToolOutcome:
    """A Python return value as a tool result (text, plus the structured value)."""
    if isinstance(result, ToolOutcome):
        return result
    if result is None:
        return ToolOutcome(ok=True, content="(no output)")
    if isinstance(result, str):
        return ToolOutcome(ok=True, content=result)
    if isinstance(result, bytes):
        return ToolOutcome(ok=True, content=result.decode("utf-8", errors="replace"))
    dump = getattr(result, "model_dump", None)
    value = dump(mode="json") if callable(dump) else result
    if hasattr(value, "__dataclass_fields__"):
        value = asdict(value)
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(result)
    return ToolOutcome(ok=True, content=text, structured=value)


def load_function(ref: str, base_dir: Path | None) -> Callable[..., Any]:
    """Import ``package.module:function`` (``base_dir`` is importable)."""
    module_name, _, attr_path = ref.partition(":")
    if not module_name or not attr_path:
        raise ConfigError(
            f"python tool {ref!r} is not written 'package.module:function'",
            "Write the module, a colon, then the function name.",
        )
    if base_dir is not None:
        folder = str(base_dir.resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"python tool {ref!r}: cannot import {module_name!r} ({type(exc).__name__}: {exc})",
            "Check the module path; it is resolved from the folder of muxi.yaml and sys.path.",
        ) from exc
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise ConfigError(
                f"python tool {ref!r}: {module_name!r} has no attribute {attr_path!r}",
                "Check the function name after the colon.",
            )
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"python tool {ref!r} is not callable", "Point it at a function.")
    return target


def load_python_tool(ref: str, base_dir: Path | None) -> PythonTool:
    return PythonTool(ref, load_function(ref, base_dir))
