"""Turn stored session messages into a conversation a model accepts."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Literal

from muxi_cli.core.cancel import cancelled_tool_result
from muxi_cli.errors import MuxiError
from muxi_cli.llm.base import Media, Message, ToolCall
from muxi_cli.protocol.messages import MediaPart, MediaRef, media_of
from muxi_cli.protocol.records import SessionMessage

log = logging.getLogger("muxi.history")

#: Reads a media reference's bytes (``stores.media.MediaStore.get``).
MediaReader = Callable[[MediaRef], bytes]

#: The most media bytes one model request re-reads from a session's history,
#: newest first; older media reach the model as placeholders. Without a bound
#: every turn of a long session would load (and send) all its images again.
HISTORY_MEDIA_BYTES = 20 * 1024 * 1024

TRUNCATION_MARKER = "\n…[truncated {omitted} characters; the full result is kept in the session]"


def truncate_for_model(content: str, limit: int) -> str:
    """Cut a long tool result to ``limit`` characters with a visible marker."""
    if limit <= 0 or len(content) <= limit:
        return content
    return content[:limit] + TRUNCATION_MARKER.format(omitted=len(content) - limit)


#: What the model is told after a turn that ended without its answer, by reason.
STOP_NOTES = {
    "cancelled": "the user cancelled this request before it was finished",
    "timeout": "this request was stopped because it took longer than the turn timeout",
    "interrupted": "this reply was cut off (muxi stopped before it finished)",
    "unanswered": "this request got no reply (it failed)",
}
NOTE_TEMPLATE = (
    "[Note from muxi: {what}. That request is closed: do not answer it, continue it or "
    "repeat its tool calls unless the user asks for it again.]"
)
StoppedTurns = Literal["note", "drop"]


def to_messages(
    stored: Iterable[SessionMessage],
    tool_result_limit: int,
    *,
    stopped: StoppedTurns = "note",
    media: MediaReader | None = None,
    text: TextReader | None = None,
) -> list[Message]:
    """Convert stored messages (oldest first) into model messages.

    The session is read turn by turn (a user message and what followed it).
    A turn that was stopped (cancelled, timed out, cut off by a crash) or got
    no reply keeps what was said; each of its tool calls without a result gets
    one saying it was stopped, and a short note tells the model the request is
    closed, so it is never answered again by accident (``stopped="drop"``
    leaves such turns out, e.g. for memory extraction). Failed replies with no
    text are skipped; tool results are truncated for the model; elsewhere
    tool calls without results are dropped with any orphan results, so every
    provider accepts the history.

    Media parts (a user's images and documents, a tool result's images) are
    read with ``media`` and handed to the model as :class:`Media`; without a
    reader, or when the bytes are gone, the model gets a placeholder text,
    followed by the text derived from the media when ``text`` has it (memory
    extraction reads a session this way: its text, never bytes).
    """
    stored = list(stored)
    if media is not None:
        media = _budgeted(stored, media, HISTORY_MEDIA_BYTES)
    turns = _turns(stored)
    out: list[Message] = []
    for index, turn in enumerate(turns):
        reason = _stop_reason(turn)
        if reason is None and index < len(turns) - 1:
            if _unanswered(turn):
                reason = "unanswered"
            elif _open_calls(turn):  # a crash while a tool ran leaves no status behind
                reason = "interrupted"
        if reason is not None and stopped == "drop":
            continue
        messages = [m for m in (_convert(msg, tool_result_limit, media, text) for msg in turn) if m]
        if reason is not None:
            messages = _close_calls(messages, reason)
            messages = _add_note(messages, NOTE_TEMPLATE.format(what=STOP_NOTES[reason]))
        out += messages
    return sanitize(out)


def _turns(stored: list[SessionMessage]) -> list[list[SessionMessage]]:
    turns: list[list[SessionMessage]] = []
    for msg in stored:
        if msg.role == "user" or not turns:
            turns.append([msg])
        else:
            turns[-1].append(msg)
    return turns


def _stop_reason(turn: list[SessionMessage]) -> str | None:
    for msg in turn:
        if msg.status == "cancelled":
            return "timeout" if msg.meta.get("stopped") == "timeout" else "cancelled"
        if msg.status == "interrupted":
            return "interrupted"
    return None


def _unanswered(turn: list[SessionMessage]) -> bool:
    """A user message nothing answered (its turn failed before any reply)."""
    if turn[0].role != "user":
        return False
    return not any(m.role == "assistant" and (m.content or m.tool_calls) for m in turn)


def _open_calls(turn: list[SessionMessage]) -> bool:
    answered = {m.tool_call_id for m in turn if m.role == "tool"}
    return any(
        str(c.get("id")) not in answered
        for m in turn
        if m.role == "assistant"
        for c in m.tool_calls
    )


def _budgeted(stored: list[SessionMessage], read: MediaReader, budget: int) -> MediaReader:
    """``read`` limited to the newest media of ``stored`` that fit in ``budget``
    bytes (each id counted once); the others raise, so they become placeholders."""
    allowed: set[str] = set()
    for msg in reversed(stored):
        for part in media_of(msg.parts):
            ref = part.media
            if ref.id in allowed:
                continue
            if ref.size > budget:
                budget = -1  # older media would come out of order: stop here
                break
            budget -= ref.size
            allowed.add(ref.id)
        if budget < 0:
            break

    def limited(ref: MediaRef) -> bytes:
        if ref.id not in allowed:
            raise MuxiError("older than the history's media budget")
        return read(ref)

    return limited


_KINDS: dict[str, Literal["image", "document", "audio", "video"]] = {
    "image": "image",
    "document": "document",
    "audio": "audio",
    "video": "video",
}

#: The text derived from stored media (``media.ingest.extract``'s cache), or ``None``.
TextReader = Callable[[MediaRef], str | None]


def _load(
    parts: list[MediaPart], read: MediaReader | None, text: TextReader | None = None
) -> tuple[list[Media], list[str]]:
    """The bytes of ``parts``, and placeholders for those that cannot be read
    (with the text derived from them, when ``text`` knows it)."""
    loaded: list[Media] = []
    missing: list[str] = []
    for part in parts:
        try:
            if read is None:
                raise MuxiError("no media store")
            data = read(part.media)
        except MuxiError as exc:
            log.info("media %s not given to the model: %s", part.media.id[:12], exc.message)
            derived = text(part.media) if text is not None else None
            missing.append(f"{part.placeholder()}\n{derived}" if derived else part.placeholder())
            continue
        kind = _KINDS[part.type]
        ref = part.media
        loaded.append(Media(kind, ref.media_type, data, ref.name, ref.id, dict(ref.meta)))
    return loaded, missing


def _with_notes(text: str, notes: list[str]) -> str:
    return "\n\n".join([text, *notes]) if text and notes else text or "\n\n".join(notes)


def _convert(
    msg: SessionMessage,
    tool_result_limit: int,
    read: MediaReader | None = None,
    text: TextReader | None = None,
) -> Message | None:
    if msg.role == "user":
        media, missing = _load(media_of(msg.parts), read, text)
        return Message("user", _with_notes(msg.content, missing), media=tuple(media))
    if msg.role == "assistant":
        if msg.status == "failed" and not msg.content:
            return None
        calls = tuple(
            ToolCall(str(c.get("id")), str(c.get("name")), dict(c.get("arguments") or {}))
            for c in msg.tool_calls
        )
        return Message("assistant", msg.content, tool_calls=calls)
    if msg.role == "tool":
        # The result's text already names its images ("[image: ...]"), so
        # images that cannot be read need no further note.
        media, missing = _load(media_of(msg.parts), read, text)
        shown = truncate_for_model(msg.content, tool_result_limit)
        if text is not None:
            # Derived text only: the placeholders themselves are in the result's text.
            shown = _with_notes(shown, [m.split("\n", 1)[1] for m in missing if "\n" in m])
        return Message(
            "tool",
            shown,
            tool_call_id=msg.tool_call_id,
            tool_name=str(msg.meta.get("name") or msg.meta.get("tool") or ""),
            is_error=not bool(msg.meta.get("ok", True)),
            media=tuple(media),
        )
    return None


def _close_calls(messages: list[Message], reason: str) -> list[Message]:
    """Give every tool call of a stopped turn a result (the stored one, or one
    saying the call was stopped), right after the results that did come."""

    out: list[Message] = []
    open_calls: list[ToolCall] = []

    def close_open() -> None:
        for call in open_calls:
            out.append(
                Message(
                    "tool",
                    cancelled_tool_result(reason),
                    tool_call_id=call.id,
                    tool_name=call.name,
                    is_error=True,
                )
            )
        open_calls.clear()

    for msg in messages:
        if msg.role == "tool":
            open_calls[:] = [c for c in open_calls if c.id != msg.tool_call_id]
            out.append(msg)
            continue
        close_open()
        out.append(msg)
        if msg.role == "assistant":
            open_calls.extend(msg.tool_calls)
    close_open()
    return out


def _add_note(messages: list[Message], note: str) -> list[Message]:
    """End a stopped turn with an assistant note (joined to its last text, if any)."""
    last = messages[-1] if messages else None
    if last is not None and last.role == "assistant" and not last.tool_calls:
        text = f"{last.content}\n\n{note}" if last.content else note
        return [*messages[:-1], Message("assistant", text)]
    return [*messages, Message("assistant", note)]


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
            cleaned[-1] = dataclasses.replace(
                cleaned[-1],
                content=f"{cleaned[-1].content}\n\n{msg.content}",
                media=cleaned[-1].media + msg.media,
            )
            continue
        if msg.role == "assistant" and not msg.content and not msg.tool_calls and not msg.media:
            continue
        cleaned.append(msg)
    # A conversation must not start with an assistant or tool message.
    while cleaned and cleaned[0].role != "user":
        cleaned.pop(0)
    return cleaned
