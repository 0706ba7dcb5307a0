"""What one model provider is: its wire format, key, address, prices and abilities.

Plain frozen data, no SDK and no I/O, so every layer that needs to know about
providers (config validation, key lookup, ``muxi doctor``, first-run setup,
pricing, the LLM registry) reads the same record. docs/architecture.md, "to add
a provider".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Literal, get_args

#: The wire formats muxi speaks; each one is driven by one SDK in ``muxi_cli.llm``.
Wire = Literal["openai", "anthropic"]
WIRES: tuple[str, ...] = get_args(Wire)


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
    #: Streams replies at all.
    streaming: bool = True
    #: Calls tools.
    tools: bool = True
    #: Reads images in a message.
    vision: bool = False
    #: Reads documents (PDF) in a message.
    documents: bool = False
    #: Hears audio in a message.
    audio_in: bool = False
    #: Answers with audio.
    audio_out: bool = False


CAPABILITY_FIELDS = tuple(f.name for f in fields(Capabilities))


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One entry of the provider table (:mod:`muxi_cli.providers.table`)."""

    #: The name in ``provider/model`` references and under ``providers:``.
    name: str
    #: How people write it (first-run setup, ``muxi doctor``).
    display_name: str
    #: The wire format (and so the SDK) that serves it.
    wire: Wire = "openai"
    #: The environment variable holding the API key; ``None``: a local server that
    #: needs none (then ``<NAME>_API_KEY`` is still read if set).
    key_env: str | None = None
    #: Where it listens; ``None``: the SDK's own default (OpenAI's, Anthropic's).
    base_url: str | None = None
    #: An environment variable that overrides ``base_url`` (``OPENAI_BASE_URL``).
    base_url_env: str | None = None
    #: Computes the base URL from the environment instead (``$OLLAMA_HOST``).
    base_url_from_env: Callable[[], str | None] | None = None
    #: A server on this machine: no key needed, free, asked for its limits.
    local: bool = False
    #: The first-party API of its SDK (OpenAI's own parameters, no placeholder key).
    native: bool = False
    #: What the server can do (``providers.<name>.capabilities`` overrides single ones).
    capabilities: Capabilities = field(default_factory=Capabilities)
    #: Bare model name -> (input, output) USD per million tokens.
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    #: The model to use when this provider is picked automatically (its key is found).
    default_model: str | None = None
    #: A bare model name starting with one of these belongs to this provider.
    model_prefixes: tuple[str, ...] = ()
    #: Other spellings accepted as ``preset:`` (``llama.cpp`` for ``llama-cpp``).
    aliases: tuple[str, ...] = ()
    #: Where to get a key, or how to start the server (one short line).
    hint: str = ""
    #: Position in lists (doctor, keys, first-run); lower first.
    order: int = 100

    def resolved_base_url(self, environ: Mapping[str, str]) -> str | None:
        """The base URL with the environment's override applied."""
        if self.base_url_from_env is not None:
            found = self.base_url_from_env()
            if found:
                return found
        if self.base_url_env and environ.get(self.base_url_env):
            return environ[self.base_url_env]
        return self.base_url
