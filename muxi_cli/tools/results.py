"""Turn MCP results (tool calls, prompts, resources) into text for the model,
collecting their media (images, audio, binary embedded resources) to store and
send beside it; the text names each item (``[image: image/png, 70 bytes]``)."""

from __future__ import annotations

import base64
import json
from typing import Any

from muxi_cli.tools.base import ToolOutcome


def _size_of(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except ValueError:
        return len(data)


def _resource_text(
    resource: Any, media: list[dict[str, str]] | None = None, *, label: bool = False
) -> str:
    text = getattr(resource, "text", None)
    if isinstance(text, str):
        if not label:
            return text
        # In a tool result the model should know where the text came from (it
        # may read the resource again, or cite it); a plain read needs no label.
        uri = str(getattr(resource, "uri", "") or "")
        mime = getattr(resource, "mime_type", None)
        return f"[resource {uri}{f' ({mime})' if mime else ''}]\n{text}"
    mime = getattr(resource, "mime_type", None) or "application/octet-stream"
    blob = getattr(resource, "blob", "") or ""
    uri = str(getattr(resource, "uri", "") or "")
    if media is not None and blob:
        media.append({"mime": mime, "data": blob, "name": _name_of(uri)})
    return f"[binary resource {uri} ({mime}, {_size_of(blob)} bytes)]"


def _name_of(uri: str) -> str:
    """A file name for a resource's URI (its last path segment)."""
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri


def _link_text(block: Any) -> str:
    """A resource link: its URI, name, type and description, so the model can
    decide to read it (the link carries no content)."""
    uri = str(getattr(block, "uri", "") or "")
    name = getattr(block, "title", None) or getattr(block, "name", None)
    mime = getattr(block, "mime_type", None)
    extra = ", ".join(str(x) for x in (name, mime) if x)
    text = f"[resource link: {uri}{f' ({extra})' if extra else ''}]"
    description = getattr(block, "description", None)
    return f"{text} {description}" if description else text


def content_to_text(
    block: Any, images: list[dict[str, str]], media: list[dict[str, str]] | None = None
) -> str:
    """One content block as text; images are collected into ``images``, audio and
    binary embedded resources into ``media`` (when given)."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return str(block.text)
    if kind == "image":
        mime = getattr(block, "mime_type", None) or "image/png"
        images.append({"mime": mime, "data": block.data})
        return f"[image: {mime}, {_size_of(block.data)} bytes]"
    if kind == "audio":
        mime = getattr(block, "mime_type", None) or "audio/wav"
        if media is not None:
            media.append({"mime": mime, "data": block.data})
        return f"[audio: {mime}, {_size_of(block.data)} bytes]"
    if kind == "resource":
        return _resource_text(block.resource, media, label=True)
    if kind == "resource_link":
        return _link_text(block)
    dump = getattr(block, "model_dump", None)
    return json.dumps(dump(mode="json") if dump else str(block), ensure_ascii=False)


def call_result_to_outcome(result: Any) -> ToolOutcome:
    """A ``CallToolResult`` as a :class:`ToolOutcome`."""
    images: list[dict[str, str]] = []
    media: list[dict[str, str]] = []
    parts = [content_to_text(block, images, media) for block in (result.content or [])]
    structured = getattr(result, "structured_content", None)
    text = "\n".join(p for p in parts if p)
    if not text.strip() and structured is not None:
        text = json.dumps(structured, indent=2, ensure_ascii=False, default=str)
    return ToolOutcome(
        ok=not bool(getattr(result, "is_error", False)),
        content=text,
        structured=structured,
        images=images,
        media=media,
    )


def prompt_to_text(result: Any) -> str:
    """A ``GetPromptResult`` as text: one ``role: content`` paragraph per message."""
    images: list[dict[str, str]] = []
    lines = []
    for message in result.messages or []:
        lines.append(f"{message.role}: {content_to_text(message.content, images)}")
    return "\n\n".join(lines)


def resource_to_text(result: Any) -> str:
    """A ``ReadResourceResult`` as text."""
    return "\n".join(_resource_text(item) for item in (result.contents or []))
