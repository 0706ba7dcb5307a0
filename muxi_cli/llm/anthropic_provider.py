"""Anthropic Messages through the official ``anthropic`` SDK.

Tool results travel as ``tool_result`` blocks in a user message; consecutive
messages of one role (several tool results, or tool results followed by user
text) are merged into one message, as the API wants roles to alternate.
Images go as ``image`` blocks with a base64 source (in user messages and
inside tool results), PDFs as ``document`` blocks; other media as a
placeholder text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from muxi_cli.llm.base import (
    Chunk,
    DoneChunk,
    LLMRequest,
    Media,
    Message,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    UsageChunk,
)
from muxi_cli.llm.common import IncompleteResponse, b64, parse_arguments, sendable_image
from muxi_cli.llm.sdk import SDKProvider
from muxi_cli.llm.sdk_import import lazy_sdk_types

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic


def _media_block(media: Media) -> dict[str, Any]:
    source = {"type": "base64", "media_type": media.media_type, "data": b64(media)}
    if sendable_image(media):
        return {"type": "image", "source": source}
    if media.kind == "document" and media.media_type == "application/pdf":
        return {"type": "document", "source": source}
    return {"type": "text", "text": media.placeholder()}


def to_anthropic_messages(
    messages: list[Message], *, tool_blocks: bool = True
) -> list[dict[str, Any]]:
    """Provider-neutral messages as Messages-API content blocks (roles merged).

    ``tool_blocks=False`` writes earlier tool calls and results as text: the API
    refuses ``tool_use``/``tool_result`` blocks in a request that offers no tools,
    and a session's tools can go away (an MCP server removed, memory search no
    longer offered once the user's memories are forgotten).
    """
    out: list[dict[str, Any]] = []
    names = {call.id: call.name for msg in messages for call in msg.tool_calls}

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for msg in messages:
        if msg.role == "tool" and not tool_blocks:
            name = names.get(msg.tool_call_id or "", "a tool")
            status = "failed" if msg.is_error else "returned"
            text = f"[{name} {status}: {msg.content}]"
            add("user", [{"type": "text", "text": text}, *(_media_block(m) for m in msg.media)])
        elif msg.role == "tool":
            content: str | list[dict[str, Any]] = msg.content
            if msg.media:
                content = [{"type": "text", "text": msg.content}] if msg.content else []
                content += [_media_block(m) for m in msg.media]
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": msg.tool_call_id or "",
                "content": content,
            }
            if msg.is_error:
                block["is_error"] = True
            add("user", [block])
        elif msg.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if msg.content:
                blocks.append({"type": "text", "text": msg.content})
            for call in msg.tool_calls:
                if not tool_blocks:
                    args = json.dumps(call.arguments, ensure_ascii=False)
                    blocks.append({"type": "text", "text": f"[called {call.name} {args}]"})
                    continue
                blocks.append(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                )
            add("assistant", blocks)
        else:
            user: list[dict[str, Any]] = []
            if msg.content or not msg.media:
                user.append({"type": "text", "text": msg.content or " "})
            add("user", user + [_media_block(m) for m in msg.media])
    return out


def _tool_choice(choice: str | None) -> dict[str, Any] | None:
    if choice is None or choice == "auto":
        return None
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice}


class AnthropicProvider(SDKProvider):
    """The Anthropic API (or anything that speaks the Messages API)."""

    default_name = "anthropic"
    default_env_var = "ANTHROPIC_API_KEY"

    def _new_client(self) -> AsyncAnthropic:
        lazy_sdk_types()  # defers the SDK's unused type modules (llm/sdk_import.py)
        from anthropic import AsyncAnthropic  # deferred: the Anthropic SDK is slow to import

        return AsyncAnthropic(
            api_key=self._api_key or "not-needed",
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=0,  # muxi retries itself (common.open_with_retries)
            default_headers=self._headers or None,
        )

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": self._reply_tokens(request),
            "messages": to_anthropic_messages(request.messages, tool_blocks=bool(request.tools)),
        }
        if request.system:
            params["system"] = request.system
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                for t in request.tools
            ]
            choice = _tool_choice(request.tool_choice)
            if choice is not None:
                params["tool_choice"] = choice
        if request.temperature is not None:
            params["extra_body"] = {"temperature": request.temperature}
        if request.stream:
            params["stream"] = True
        params["timeout"] = self._call_timeout(request)
        return params

    async def _create(self, client: AsyncAnthropic, params: dict[str, Any]) -> Any:
        return await client.messages.create(**params)

    def _whole_chunks(self, response: Any) -> list[Chunk]:
        return _message_chunks(response)

    def _stream_chunks(self, events: AsyncIterator[Any]) -> AsyncIterator[Chunk]:
        return _event_chunks(events)


def _input_tokens(usage: Any) -> int:
    total = 0
    for field in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        total += getattr(usage, field, None) or 0
    return total


async def _event_chunks(events: AsyncIterator[Any]) -> AsyncIterator[Chunk]:
    """Chunks from raw Messages stream events."""
    tools: dict[int, dict[str, str]] = {}
    input_tokens = output_tokens = 0
    stop = "end_turn"
    finished = False
    seen = False
    async for event in events:
        seen = True
        kind = event.type
        if kind == "message_start":
            usage = event.message.usage
            if usage is not None:
                input_tokens = _input_tokens(usage)
                output_tokens = usage.output_tokens or 0
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                tools[event.index] = {"id": block.id, "name": block.name, "json": ""}
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                if delta.text:
                    yield TextChunk(delta.text)
            elif delta.type == "input_json_delta":
                slot = tools.get(event.index)
                if slot is None:
                    raise ValueError(f"input_json_delta for unknown block {event.index}")
                slot["json"] += delta.partial_json or ""
        elif kind == "content_block_stop":
            slot = tools.pop(event.index, None)
            if slot is not None:
                yield ToolCallChunk(parse_arguments(slot["id"], slot["name"], slot["json"]))
        elif kind == "message_delta":
            if event.delta.stop_reason:
                stop = event.delta.stop_reason
            usage = event.usage
            if usage is not None:
                output_tokens = usage.output_tokens or output_tokens
                if getattr(usage, "input_tokens", None):
                    input_tokens = _input_tokens(usage)
        elif kind == "message_stop":
            finished = True
    if not finished:
        raise IncompleteResponse(empty=not seen)
    for slot in tools.values():  # blocks never closed: still report them
        yield ToolCallChunk(parse_arguments(slot["id"], slot["name"], slot["json"]))
    yield UsageChunk(input_tokens, output_tokens)
    yield DoneChunk(stop)


def _message_chunks(message: Any) -> list[Chunk]:
    """Chunks from one whole ``Message``."""
    out: list[Chunk] = []
    text = "".join(b.text for b in message.content if b.type == "text")
    if text:
        out.append(TextChunk(text))
    for block in message.content:
        if block.type == "tool_use":
            arguments = block.input
            if isinstance(arguments, dict):
                out.append(ToolCallChunk(ToolCall(block.id, block.name, arguments)))
            else:
                out.append(
                    ToolCallChunk(
                        ToolCall(block.id, block.name, {}, invalid_arguments=str(arguments))
                    )
                )
    usage = message.usage
    out.append(UsageChunk(_input_tokens(usage), usage.output_tokens or 0))
    out.append(DoneChunk(message.stop_reason or "end_turn"))
    return out
