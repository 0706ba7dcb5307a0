"""What one model provider is: its wire format, key, address, prices and abilities.

Plain frozen data, no SDK and no I/O, so every layer that needs to know about
providers (config validation, key lookup, ``muxi doctor``, first-run setup,
pricing, the LLM registry) reads the same record. docs/architecture.md, "to add
a provider".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
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

#: The capabilities that depend on the model as well as the server.
MEDIA_FIELDS = ("vision", "documents", "audio_in")

#: Image types the OpenAI and Anthropic APIs both accept.
WIRE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What one request may carry in images, from the provider's documentation.

    ``max_bytes`` is per image (raw bytes; a limit the API states on the base64
    text is converted), ``max_long_edge`` and ``max_pixels`` the size images are
    fitted to (the documented maximum or the size above which the server scales
    down anyway, whichever is smaller: larger only costs upload time),
    ``max_count`` images per request (older ones become placeholders),
    ``request_bytes`` all media bytes of one request together.
    """

    max_bytes: int = 5 * 1024 * 1024
    max_long_edge: int = 2048
    max_pixels: int | None = None
    max_count: int = 20
    request_bytes: int = 20 * 1024 * 1024
    types: frozenset[str] = WIRE_IMAGE_TYPES
    #: PDFs sent as documents: pages per request (longer ones go as text).
    max_pdf_pages: int = 100

    @property
    def key(self) -> str:
        """Names these limits in the derived cache (a fitted image per limits)."""
        types = ",".join(sorted(t.split("/", 1)[-1] for t in self.types))
        return f"fit:{self.max_bytes}:{self.max_long_edge}:{self.max_pixels or 0}:{types}"


@dataclass(frozen=True, slots=True)
class ModelMedia:
    """What the models whose bare name matches ``pattern`` (a glob, lower case)
    take; ``None`` leaves the provider's own capability."""

    pattern: str
    vision: bool | None = None
    documents: bool | None = None
    audio_in: bool | None = None

    def matches(self, model: str) -> bool:
        return fnmatchcase(model.lower(), self.pattern)


def model_media(rules: tuple[ModelMedia, ...], model: str) -> ModelMedia | None:
    """The first rule for ``model`` (rules are ordered, exceptions first)."""
    return next((r for r in rules if r.matches(model)), None)


#: Open-weight models that see images, as local servers name them (Ollama tags,
#: GGUF and Hugging Face names). Any other local model is taken as text only;
#: ``providers.<name>.models`` or ``capabilities: {vision: true}`` says otherwise.
LOCAL_MODEL_MEDIA: tuple[ModelMedia, ...] = (
    ModelMedia("gemma3:1b*", vision=False),
    ModelMedia("*llava*", vision=True),
    ModelMedia("*vision*", vision=True),
    ModelMedia("*-vl*", vision=True),
    ModelMedia("*vl:*", vision=True),
    ModelMedia("qwen*vl*", vision=True),
    ModelMedia("minicpm-v*", vision=True),
    ModelMedia("moondream*", vision=True),
    ModelMedia("gemma3*", vision=True),
    ModelMedia("llama4*", vision=True),
    ModelMedia("mistral-small3.[12]*", vision=True),
    ModelMedia("*pixtral*", vision=True),
)

#: Images on local servers: small models see little more than ~1000 px.
LOCAL_IMAGE_LIMITS = ImageLimits(max_long_edge=1344, max_count=8)


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
    #: Which models see images, read PDFs, hear audio (first match wins; a model
    #: no rule matches has the provider's ``capabilities``).
    models: tuple[ModelMedia, ...] = ()
    #: The sizes and counts of images one request may carry.
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    #: Audio types the server takes as input (OpenAI ``input_audio``: wav, mp3).
    audio_types: frozenset[str] = frozenset()
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


@dataclass(frozen=True, slots=True)
class MediaSupport:
    """What one model takes in media, and the limits of its provider."""

    vision: bool = False
    documents: bool = False
    audio_in: bool = False
    limits: ImageLimits = field(default_factory=ImageLimits)
    #: Audio types sent as audio (others reach the model as their transcript only).
    audio_types: frozenset[str] = frozenset()


def _glob_match(patterns: Mapping[str, Mapping[str, bool | None]], model: str) -> dict[str, bool]:
    """Settings of ``patterns`` for ``model``: its exact name first, then globs in order."""
    low = model.lower()
    exact = {k.lower(): v for k, v in patterns.items()}
    found = exact.get(low)
    if found is None:
        found = next((v for k, v in patterns.items() if fnmatchcase(low, k.lower())), None)
    return {k: v for k, v in (found or {}).items() if k in MEDIA_FIELDS and v is not None}


def media_support(
    base: Capabilities,
    model: str,
    *,
    rules: tuple[ModelMedia, ...] = (),
    limits: ImageLimits | None = None,
    audio_types: frozenset[str] = frozenset(),
    explicit: Mapping[str, bool | None] | None = None,
    per_model: Mapping[str, Mapping[str, bool | None]] | None = None,
) -> MediaSupport:
    """What ``model`` takes: a per-model setting of the formation wins, then a
    capability set for the whole provider, then the table's rule for the model,
    then the provider's own capability."""
    chosen = {name: bool(getattr(base, name)) for name in MEDIA_FIELDS}
    rule = model_media(rules, model)
    if rule is not None:
        chosen.update(
            {n: bool(getattr(rule, n)) for n in MEDIA_FIELDS if getattr(rule, n) is not None}
        )
    chosen.update(
        {k: bool(v) for k, v in (explicit or {}).items() if k in MEDIA_FIELDS and v is not None}
    )
    chosen.update(_glob_match(per_model or {}, model))
    return MediaSupport(
        vision=chosen["vision"],
        documents=chosen["documents"],
        audio_in=chosen["audio_in"],
        limits=limits or ImageLimits(),
        audio_types=audio_types,
    )
