"""Model-facing tool names.

Providers accept tool names made of ``[A-Za-z0-9_-]`` up to 64 characters.
MCP tools are namespaced ``<server>__<tool>`` so two servers can both offer
``search``; built-ins keep their names; Python tools use the function name;
the tool that asks agent ``x`` is ``ask_x`` (:func:`delegate_name`).
A name, once given, stays the same for the life of the registry.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 64
_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def sanitise(name: str) -> str:
    """Replace characters providers reject with ``_`` (never empty)."""
    cleaned = _BAD.sub("_", name).strip("_") or "tool"
    return cleaned


def _fit(name: str, limit: int = MAX_NAME) -> str:
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}_{digest}"


#: Delegate tools are named ``ask_<agent>``.
DELEGATE_PREFIX = "ask_"


def delegate_name(agent: str) -> str:
    """The name of the tool that asks ``agent`` (agent names are valid tool names)."""
    return f"{DELEGATE_PREFIX}{agent}"[:MAX_NAME]


def namespaced(server: str, tool: str) -> str:
    """The preferred name of MCP tool ``tool`` of ``server``."""
    return _fit(f"{sanitise(server)}__{sanitise(tool)}")


class NameRegistry:
    """Hands out unique, stable model-facing names."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str], str] = {}
        self._taken: set[str] = set()

    def assign(self, kind: str, server: str, tool: str, preferred: str) -> str:
        """The name of ``tool`` of ``server`` (of tool kind ``kind``): the kind is
        part of the key, so an MCP server named ``builtin`` gets its own names."""
        key = (kind, server, tool)
        known = self._by_key.get(key)
        if known is not None:
            return known
        base = _fit(sanitise(preferred))
        name = base
        n = 2
        while name in self._taken:
            suffix = f"_{n}"
            name = _fit(base, MAX_NAME - len(suffix)) + suffix
            n += 1
        self._by_key[key] = name
        self._taken.add(name)
        return name

    def lookup(self, name: str) -> tuple[str, str, str] | None:
        for key, value in self._by_key.items():
            if value == name:
                return key
        return None
