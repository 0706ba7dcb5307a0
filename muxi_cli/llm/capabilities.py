"""What a model server can do, so requests are shaped to what it honours.

OpenAI-compatible servers differ in ways that change the answer, not just its
speed: llama-cpp-python ignores tools in a streamed request (and answers an
empty 200 to a streamed ``tool_choice: "auto"``), never reports usage while
streaming, and Ollama ignores a forced ``tool_choice``. A provider entry in
``muxi.yaml`` names a ``preset`` (an entry of the provider table,
:mod:`muxi_cli.providers`) or sets single ``capabilities``, and the
provider adapts: a tool-bearing request goes non-streaming to a server that
cannot stream tool calls, ``tool_choice: "auto"`` is sent where a server only
uses tools when asked, and missing usage is reported as unknown, never zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from muxi_cli.providers import table
from muxi_cli.providers.spec import CAPABILITY_FIELDS, Capabilities

__all__ = ["CAPABILITY_FIELDS", "Capabilities", "capabilities_for", "preset_name", "text_tool_call"]


def preset_name(name: str) -> str | None:
    """The provider-table entry ``name`` means (aliases allowed), or ``None``."""
    spec = table.lookup(name)
    return spec.name if spec is not None else None


def capabilities_for(
    preset: str | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    default: str = "openai",
) -> Capabilities:
    """A table entry's capabilities (or ``default``'s) with single ``overrides`` applied."""
    spec = (table.lookup(preset) if preset else None) or table.lookup(default)
    base = spec.capabilities if spec is not None else Capabilities()
    if overrides:
        known = {k: v for k, v in overrides.items() if k in CAPABILITY_FIELDS and v is not None}
        base = replace(base, **known)
    return base


# ------------------------------------------------------------- tool calls written as text

_TAG = re.compile(r"<\s*(tool_call|function_call|tool_use|function)\b", re.IGNORECASE)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def text_tool_call(text: str, tool_names: Iterable[str]) -> str | None:
    """The tool a reply *writes out* instead of calling, or ``None``.

    Small local models often answer a tool-bearing request with the call as text
    (a JSON object naming a tool, or a ``<tool_call>`` tag) when the server did not
    pass the tools on. Returns the tool's name, or ``"<tool_call>"`` for a tag.
    """
    names = set(tool_names)
    if not names or not text.strip():
        return None
    match = _TAG.search(text)
    if match:
        return f"<{match.group(1).lower()}>"
    found = _JSON_OBJECT.search(text)
    if not found:
        return None
    try:
        obj = json.loads(found.group(0))
    except ValueError:
        return None
    candidates = [obj] if isinstance(obj, dict) else []
    for item in candidates:
        name = item.get("name") or item.get("tool") or item.get("function")
        if isinstance(name, dict):
            name = name.get("name")
        if isinstance(name, str) and name in names:
            return name
    return None
