"""``${VAR}`` expansion of formation values from the environment.

Rules:

- ``${VAR}`` is replaced by the variable's value; an unset variable is an error.
- ``${VAR:-default}`` uses ``default`` when ``VAR`` is unset or empty.
- ``$$`` is a literal ``$`` (so ``$${VAR}`` is the text ``${VAR}``).
- A ``$`` followed by anything else is left alone.

Only string *values* are expanded (never keys), everywhere in the document.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\$\$|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

KeyPath = tuple[str | int, ...]


@dataclass(slots=True)
class ExpansionError(Exception):
    """A reference that cannot be expanded; the loader turns it into a ConfigError."""

    path: KeyPath
    problem: str
    variable: str | None = None

    def __str__(self) -> str:
        return self.problem


def expand_string(text: str, environ: Mapping[str, str] | None = None, path: KeyPath = ()) -> str:
    """Expand the ``${...}`` references of one string."""
    env = os.environ if environ is None else environ
    out: list[str] = []
    pos = 0
    while True:
        match = _TOKEN.search(text, pos)
        if match is None:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos : match.start()])
        if match.group() == "$$":
            out.append("$")
            pos = match.end()
            continue
        close = text.find("}", match.end())
        if close < 0:
            raise ExpansionError(path, "unterminated '${' (write '$$' for a literal '$')")
        body = text[match.end() : close]
        name, sep, default = body.partition(":-")
        if not _NAME.fullmatch(name):
            raise ExpansionError(
                path,
                f"invalid variable reference '${{{body}}}' (use ${{NAME}} or ${{NAME:-default}})",
            )
        value = env.get(name)
        if sep:
            out.append(value if value else default)
        elif value is None:
            raise ExpansionError(
                path,
                f"environment variable {name} is not set "
                f"(set it, or write ${{{name}:-default}} to give a default)",
                variable=name,
            )
        else:
            out.append(value)
        pos = close + 1


def expand(data: Any, environ: Mapping[str, str] | None = None, path: KeyPath = ()) -> Any:
    """Return a copy of ``data`` with every string value expanded."""
    if isinstance(data, str):
        return expand_string(data, environ, path) if "$" in data else data
    if isinstance(data, dict):
        return {k: expand(v, environ, (*path, str(k))) for k, v in data.items()}
    if isinstance(data, list):
        return [expand(v, environ, (*path, i)) for i, v in enumerate(data)]
    return data


def format_path(path: KeyPath) -> str:
    """``('agents', 1, 'model')`` -> ``agents[1].model``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_\-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out
