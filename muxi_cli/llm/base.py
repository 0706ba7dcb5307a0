"""Provider-neutral messages, tool specs, stream chunks and the provider protocol.

The agent loop only ever sees these types; each provider module translates
them to and from its SDK's wire format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from muxi_cli.providers.spec import MediaSupport

Role = Literal["user", "assistant", "tool"]

#: The reply size asked for when nothing (agent, provider, preset, server) says otherwise.
DEFAULT_MAX_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to call a tool (arguments already parsed)."""

    id: str
    name: str
    arguments: dict[str, Any]
    #: Set when the model produced arguments that are not a JSON object.
    invalid_arguments: str | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """Bytes the model should see: an image, a (binary) document or audio.

    The session holds references (protocol/messages.py); core/history.py reads
    the bytes from the media store, so providers only convert.
    """

    kind: Literal["image", "document", "audio", "video"]
    media_type: str
    data: bytes
    name: str | None = None
    #: The media store's id of the original (derived forms are cached under it).
    id: str | None = None
    #: What is known of it (``width``, ``height``, ``pages``, ``duration``).
    meta: dict[str, int | float] = field(default_factory=dict, compare=False)

    def placeholder(self) -> str:
        """Text standing in for media a provider cannot send."""
        label = f"{self.name}, " if self.name else ""
        return f"[{self.kind}: {label}{self.media_type}, {len(self.data)} bytes; not shown to you]"


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation as the model sees it.

    ``tool`` messages carry a tool result for ``tool_call_id``. ``media`` goes
    with ``content``: a user's attachments, or the images of a tool result.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    is_error: bool = False
    media: tuple[Media, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model (``name`` is what the model calls)."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(slots=True)
class LLMRequest:
    model: str
    messages: list[Message]
    system: str | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    #: ``None`` (model decides), ``"required"`` (must call some tool), or a tool name.
    tool_choice: str | None = None
    #: ``None``: the provider's own default (its ``max_tokens``, its preset's, then
    #: :data:`DEFAULT_MAX_TOKENS`), kept within the server's context size when known.
    max_tokens: int | None = None
    temperature: float | None = None
    stream: bool = True
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    """A complete tool call (providers assemble streamed argument fragments)."""

    call: ToolCall


@dataclass(frozen=True, slots=True)
class UsageChunk:
    """Token counts of one call; ``None`` when the server did not report them
    (unknown is not zero: a local server that ignores ``include_usage``)."""

    input_tokens: int | None
    output_tokens: int | None

    @property
    def known(self) -> bool:
        return self.input_tokens is not None and self.output_tokens is not None


@dataclass(frozen=True, slots=True)
class DoneChunk:
    #: ``end_turn``, ``tool_use``, ``max_tokens``, ``stop`` or the provider's own word.
    stop_reason: str


Chunk = TextChunk | ToolCallChunk | UsageChunk | DoneChunk


@runtime_checkable
class LLMProvider(Protocol):
    """One configured provider (an SDK client with its key and base URL)."""

    name: str

    def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        """Run one model call, yielding chunks as they arrive.

        Raises :class:`muxi_cli.errors.ProviderError` subclasses for failures
        (after retries for 429/5xx/connection errors).
        """
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole (non-streamed) answer, gathered from chunks."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    input_tokens: int
    output_tokens: int
    stop_reason: str
    #: ``False`` when the server reported no token counts (the counts are then 0).
    usage_known: bool = True


async def complete(provider: LLMProvider, request: LLMRequest) -> Completion:
    """Gather a provider's stream into one :class:`Completion`."""
    text: list[str] = []
    calls: list[ToolCall] = []
    tokens_in = tokens_out = 0
    known = True
    stop = "end_turn"
    async for chunk in provider.stream(request):
        if isinstance(chunk, TextChunk):
            text.append(chunk.text)
        elif isinstance(chunk, ToolCallChunk):
            calls.append(chunk.call)
        elif isinstance(chunk, UsageChunk):
            known = known and chunk.known
            tokens_in += chunk.input_tokens or 0
            tokens_out += chunk.output_tokens or 0
        else:
            stop = chunk.stop_reason
    return Completion("".join(text), tuple(calls), tokens_in, tokens_out, stop, known)


class ModelResolver(Protocol):
    """What callers need from ``llm.registry.ProviderRegistry``."""

    def model_for(self, agent: Any = None, override: str | None = None) -> str:
        """The ``provider/model`` reference to use for ``agent``."""
        ...

    def resolve(self, model_ref: str) -> tuple[LLMProvider, str]:
        """The provider instance and the provider's own model name."""
        ...

    def price(self, model_ref: str, input_tokens: int, output_tokens: int) -> float | None: ...

    def media_support(self, model_ref: str) -> MediaSupport:
        """What the model takes in media and its provider's image limits."""
        ...
