"""Turn stored session messages into a conversation a model accepts."""

from __future__ import annotations

from collections.abc import Iterable

from muxi_cli.llm.base import Message, ToolCall
from muxi_cli.runtime.base import SessionMessage

TRUNCATION_MARKER = "\n…[truncated {omitted} characters; the full result is kept in the session]"


def truncate_for_model(content: str, limit: int) -> str:
    """Cut a long tool result to ``limit`` characters with a visible marker."""
    if limit <= 0 or len(content) <= limit:
        return content
    return content[:limit] + TRUNCATION_MARKER.format(omitted=len(content) - limit)


def to_messages(stored: Iterable[SessionMessage], tool_result_limit: int) -> list[Message]:
    """Convert stored messages (oldest first) into model messages.

    Failed turns and notes are skipped; tool results are truncated for the
    model; assistant tool calls without results (a turn cut off mid-call) are
    dropped together with any orphan results, so every provider accepts the
    history.
    """
    out: list[Message] = []
    for msg in stored:
        if msg.role == "user":
            out.append(Message("user", msg.content))
        elif msg.role == "assistant":
            if msg.status == "failed" and not msg.content:
                continue
            calls = tuple(
                ToolCall(str(c.get("id")), str(c.get("name")), dict(c.get("arguments") or {}))
                for c in msg.tool_calls
            )
            out.append(Message("assistant", msg.content, tool_calls=calls))
        elif msg.role == "tool":
            out.append(
                Message(
                    "tool",
                    truncate_for_model(msg.content, tool_result_limit),
                    tool_call_id=msg.tool_call_id,
                    tool_name=str(msg.meta.get("name") or msg.meta.get("tool") or ""),
                    is_error=not bool(msg.meta.get("ok", True)),
                )
            )
    return sanitize(out)


def sanitize(messages: list[Message]) -> list[Message]:
    """Drop tool calls that have no result and results that have no call;
    merge consecutive user messages so strict providers accept the list."""
    answered = {m.tool_call_id for m in messages if m.role == "tool"}
    requested: set[str] = set()
    cleaned: list[Message] = []
    for msg in messages:
        if msg.role == "assistant" and msg.tool_calls:
            kept = tuple(c for c in msg.tool_calls if c.id in answered)
            requested.update(c.id for c in kept)
            if not kept and not msg.content:
                continue
            msg = Message("assistant", msg.content, tool_calls=kept)
        elif msg.role == "tool" and msg.tool_call_id not in requested:
            continue
        if cleaned and msg.role == "user" and cleaned[-1].role == "user":
            cleaned[-1] = Message("user", f"{cleaned[-1].content}\n\n{msg.content}")
            continue
        if msg.role == "assistant" and not msg.content and not msg.tool_calls:
            continue
        cleaned.append(msg)
    # A conversation must not start with an assistant or tool message.
    while cleaned and cleaned[0].role != "user":
        cleaned.pop(0)
    return cleaned
