"""What a model server can do, so requests are shaped to what it honours.

OpenAI-compatible servers differ in ways that change the answer, not just its
speed: llama-cpp-python ignores tools in a streamed request (and answers an
empty 200 to a streamed ``tool_choice: "auto"``), never reports usage while
streaming, and Ollama ignores a forced ``tool_choice``. A provider entry in
``muxi.yaml`` names a ``preset`` (or sets single ``capabilities``), and the
provider adapts: a tool-bearing request goes non-streaming to a server that
cannot stream tool calls, ``tool_choice: "auto"`` is sent where a server only
uses tools when asked, and missing usage is reported as unknown, never zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Behaviour of one model server (the defaults are OpenAI's and Anthropic's)."""

    #: Streams tool calls (``False``: tool-bearing requests are sent non-streaming).
    stream_tools: bool = True
    #: Honours a forced ``tool_choice`` naming one tool (the router uses one).
    forced_tool_choice: bool = True
    #: Uses tools only when ``tool_choice: "auto"`` is sent explicitly.
    explicit_auto: bool = False
    #: Reports token usage at the end of a stream when asked.
    stream_usage: bool = True
    #: The largest reply to ask for when neither the agent nor the provider sets one.
    max_tokens: int | None = None
    #: Ask the server for the model's context size (``/props``, ``/v1/models``) and
    #: keep ``max_tokens`` within it.
    probe_limits: bool = False


#: Named presets: the hosted APIs and the common local servers.
PRESETS: Mapping[str, Capabilities] = {
    "openai": Capabilities(),
    "anthropic": Capabilities(),
    # Generic OpenAI-compatible server: standard behaviour, limits asked for.
    "openai-compatible": Capabilities(probe_limits=True),
    # llama.cpp's own `llama-server` (with --jinja for tools): streams tool calls and usage.
    "llama-cpp": Capabilities(probe_limits=True),
    # `python -m llama_cpp.server`: tools only non-streamed and with an explicit "auto";
    # no usage while streaming.
    "llama-cpp-python": Capabilities(
        stream_tools=False, explicit_auto=True, stream_usage=False, probe_limits=True
    ),
    # Ollama's OpenAI-compatible endpoint ignores a forced tool_choice.
    "ollama": Capabilities(forced_tool_choice=False, probe_limits=True),
    # vLLM with --enable-auto-tool-choice and a tool parser.
    "vllm": Capabilities(probe_limits=True),
    "lmstudio": Capabilities(probe_limits=True),
}

PRESET_ALIASES: Mapping[str, str] = {
    "llama.cpp": "llama-cpp",
    "llamacpp": "llama-cpp",
    "llama-server": "llama-cpp",
    "llama_cpp_python": "llama-cpp-python",
    "lm-studio": "lmstudio",
    "compatible": "openai-compatible",
}

CAPABILITY_FIELDS = tuple(f.name for f in fields(Capabilities))


def preset_name(name: str) -> str | None:
    """The canonical preset name for ``name`` (aliases allowed), or ``None``."""
    key = name.strip().lower()
    key = PRESET_ALIASES.get(key, key)
    return key if key in PRESETS else None


def capabilities_for(
    preset: str | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    default: str = "openai",
) -> Capabilities:
    """A preset (or ``default``) with single ``overrides`` applied."""
    base = PRESETS[preset_name(preset) or default] if preset else PRESETS[default]
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
