"""OpenAI Chat Completions through the official ``openai`` SDK.

Images go as ``image_url`` content parts with ``data:`` URLs, PDFs as
``file`` parts (``file_data`` a data URL), WAV and MP3 audio as
``input_audio`` parts. Chat Completions takes none of them in tool messages:
a tool result's media follow its tool messages as one user message (text
saying whose they are, then the media). What reaches this module was shaped
for the model by ``media.prepare`` (fitted, or turned into text); anything
else travels as a placeholder text.

Also serves every OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio)
by ``base_url``; for those (``compat=True``) a key is optional and
``max_tokens`` is sent instead of ``max_completion_tokens``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from muxi_cli.llm.base import (
    Chunk,
    DoneChunk,
    LLMRequest,
    Media,
    Message,
    TextChunk,
    ToolCallChunk,
    UsageChunk,
)
from muxi_cli.llm.common import (
    IncompleteResponse,
    b64,
    data_url,
    parse_arguments,
    sendable_image,
)
from muxi_cli.llm.sdk import SDKProvider
from muxi_cli.llm.sdk_import import lazy_sdk_types

if TYPE_CHECKING:
    from openai import AsyncOpenAI

PLACEHOLDER_KEY = "not-needed"  # OpenAI-compatible local servers ignore the key
_STOP = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
}


#: Audio types ``input_audio`` takes, by its ``format`` value.
_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
}


def media_part(item: Media) -> dict[str, Any] | None:
    """One media item as a content part, or ``None`` when Chat Completions has none for it."""
    if sendable_image(item):
        return {"type": "image_url", "image_url": {"url": data_url(item)}}
    if item.kind == "document" and item.media_type == "application/pdf":
        return {
            "type": "file",
            "file": {"filename": item.name or "document.pdf", "file_data": data_url(item)},
        }
    if item.kind == "audio" and item.media_type in _AUDIO_FORMATS:
        audio = {"data": b64(item), "format": _AUDIO_FORMATS[item.media_type]}
        return {"type": "input_audio", "input_audio": audio}
    return None


def _user_content(text: str, media: tuple[Media, ...]) -> str | list[dict[str, Any]]:
    """A plain string, or a content array when there is media."""
    if not media:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for item in media:
        parts.append(media_part(item) or {"type": "text", "text": item.placeholder()})
    return parts


def to_openai_messages(messages: list[Message], system: str | None) -> list[dict[str, Any]]:
    """Provider-neutral messages in the Chat Completions shape."""
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": system})
    #: Images of the tool results just written, sent once the run of tool messages ends.
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        if pending:
            out.append({"role": "user", "content": list(pending)})
            pending.clear()

    for msg in messages:
        if msg.role != "tool":
            flush()
        if msg.role == "tool":
            content = (
                f"Error: {msg.content}"
                if msg.is_error and not msg.content.startswith("Error")
                else msg.content
            )
            sent = [p for p in (media_part(m) for m in msg.media) if p is not None]
            if sent:
                images = sum(p["type"] == "image_url" for p in sent)
                what = f"{images} image(s)" if images == len(sent) else f"{len(sent)} media item(s)"
                content += f"\n[{what} of this result follow in a user message]"
                noun = "Images" if images == len(sent) else "Media"
                pending.append(
                    {
                        "type": "text",
                        "text": f"{noun} returned by tool call {msg.tool_call_id} "
                        f"({msg.tool_name or 'tool'}):",
                    }
                )
                pending += sent
            out.append({"role": "tool", "tool_call_id": msg.tool_call_id or "", "content": content})
        elif msg.role == "assistant":
            item: dict[str, Any] = {"role": "assistant", "content": msg.content or None}
            if msg.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": call.invalid_arguments
                            if call.invalid_arguments is not None
                            else json.dumps(call.arguments),
                        },
                    }
                    for call in msg.tool_calls
                ]
            elif not msg.content:
                item["content"] = ""
            out.append(item)
        else:
            out.append({"role": "user", "content": _user_content(msg.content, msg.media)})
    flush()
    return out


def _fallback_call_id() -> str:
    """An id for a tool call a compatible server sent without one.

    Unique, not ``call_<index>``: approvals are looked up by call id across
    every running turn, and a session's history pairs calls with results by id.
    """
    return f"call_{uuid.uuid4().hex[:24]}"


def _tool_choice(choice: str | None) -> Any:
    if choice is None:
        return None
    if choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


class OpenAIProvider(SDKProvider):
    """An OpenAI (or OpenAI-compatible) endpoint."""

    default_name = "openai"
    default_env_var = "OPENAI_API_KEY"

    def __init__(self, name: str | None = None, *, compat: bool = False, **kw: Any) -> None:
        """``compat``: an OpenAI-compatible server (a placeholder key, ``max_tokens``)."""
        super().__init__(name, **kw)
        self.compat = compat

    def _new_client(self) -> AsyncOpenAI:
        lazy_sdk_types()  # saves ~0.18 s of the SDK's import (llm/sdk_import.py)
        from openai import AsyncOpenAI  # deferred: the OpenAI SDK is slow to import

        return AsyncOpenAI(
            api_key=self._api_key or PLACEHOLDER_KEY,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=0,  # muxi retries itself (common.open_with_retries)
            default_headers=self._headers or None,
        )

    def _warm_client(self) -> AsyncOpenAI:
        client = self._new_client()
        _ = client.chat.completions  # imports openai.resources.chat (~0.1 s) on first access
        return client

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            # media.prepare already kept only what this model takes (per model).
            "messages": to_openai_messages(request.messages, request.system),
        }
        params["max_tokens" if self.compat else "max_completion_tokens"] = self._reply_tokens(
            request
        )
        if request.temperature is not None:
            params["temperature"] = request.temperature
        caps = self.capabilities
        stream = request.stream
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.input_schema,
                    },
                }
                for t in request.tools
            ]
            wanted = request.tool_choice
            if wanted not in (None, "auto", "required", "none") and not caps.forced_tool_choice:
                wanted = "required"  # the server ignores a named choice; insist on some tool
            if wanted is None and caps.explicit_auto:
                wanted = "auto"  # the server uses tools only when asked to
            choice = _tool_choice(wanted)
            if choice is not None:
                params["tool_choice"] = choice
            if not caps.stream_tools:
                stream = False  # sent whole; the answer still becomes the usual chunks
        if stream:
            params["stream"] = True
            if caps.stream_usage:
                params["stream_options"] = {"include_usage": True}
        params["timeout"] = self._call_timeout(request)
        return params

    def _fallback_params(self, params: dict[str, Any]) -> dict[str, Any] | None:
        if not params.get("tools"):
            return None
        retry = {k: v for k, v in params.items() if k not in ("stream", "stream_options")}
        retry.setdefault("tool_choice", "auto")
        return retry

    async def _create(self, client: AsyncOpenAI, params: dict[str, Any]) -> Any:
        return await client.chat.completions.create(**params)

    def _whole_chunks(self, response: Any) -> list[Chunk]:
        return _completion_chunks(response)

    def _stream_chunks(self, events: AsyncIterator[Any]) -> AsyncIterator[Chunk]:
        return _stream_chunks(events)


async def _stream_chunks(events: AsyncIterator[Any]) -> AsyncIterator[Chunk]:
    """Chunks from ``chat.completion.chunk`` objects (tool calls assembled)."""
    calls: dict[int, dict[str, str]] = {}
    finish: str | None = None
    usage: tuple[int, int] | None = None
    seen = False
    async for event in events:
        seen = True
        if getattr(event, "usage", None) is not None:
            usage = (event.usage.prompt_tokens or 0, event.usage.completion_tokens or 0)
        for choice in event.choices or ():
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    yield TextChunk(delta.content)
                for tc in delta.tool_calls or ():
                    index = tc.index if tc.index is not None else len(calls)
                    slot = calls.setdefault(index, {"id": "", "name": "", "args": ""})
                    if tc.id:
                        slot["id"] = tc.id
                    fn = tc.function
                    if fn is not None:
                        if fn.name:
                            slot["name"] = fn.name
                        if fn.arguments:
                            slot["args"] += fn.arguments
            if choice.finish_reason:
                finish = choice.finish_reason
    if not seen:
        raise IncompleteResponse(empty=True)
    if finish is None and usage is None:
        # A complete stream ends with a finish reason (and, when asked for, a usage
        # chunk after it); one with neither was cut off, e.g. the server was killed.
        raise IncompleteResponse(empty=False)
    for index in sorted(calls):
        slot = calls[index]
        call_id = slot["id"] or _fallback_call_id()
        yield ToolCallChunk(parse_arguments(call_id, slot["name"], slot["args"]))
    if usage is not None:
        yield UsageChunk(*usage)
    else:
        yield UsageChunk(None, None)  # the server did not say: unknown, not zero
    stop = _STOP.get(finish or "stop", finish or "end_turn")
    if calls and stop == "end_turn":
        stop = "tool_use"  # some compatible servers say "stop" after tool calls
    yield DoneChunk(stop)


def _completion_chunks(completion: Any) -> list[Chunk]:
    """Chunks from one ``chat.completion`` object."""
    if completion is None or (isinstance(completion, str | bytes) and not completion.strip()):
        raise IncompleteResponse(empty=True)
    if not getattr(completion, "choices", None):
        raise ValueError("the completion has no choices")
    choice = completion.choices[0]
    message = choice.message
    out: list[Chunk] = []
    if message.content:
        out.append(TextChunk(message.content))
    for call in message.tool_calls or ():
        fn = call.function
        out.append(
            ToolCallChunk(
                parse_arguments(call.id or _fallback_call_id(), fn.name, fn.arguments or "")
            )
        )
    if completion.usage is not None:
        out.append(
            UsageChunk(completion.usage.prompt_tokens or 0, completion.usage.completion_tokens or 0)
        )
    else:
        out.append(UsageChunk(None, None))
    stop = _STOP.get(choice.finish_reason or "stop", choice.finish_reason or "end_turn")
    if message.tool_calls and stop == "end_turn":
        stop = "tool_use"
    out.append(DoneChunk(stop))
    return out
