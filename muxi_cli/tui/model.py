"""What the transcript shows, as plain data.

Widgets render these records; the transcript keeps every record of a session
but mounts widgets only for the most recent ones, so a session of hundreds of
messages stays light. A live reply updates its record as events arrive, so a
reply scrolled out of the window can be rebuilt exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.protocol.usage import UsageTotals as Usage

if TYPE_CHECKING:
    from muxi_cli.protocol.messages import MediaRef
    from muxi_cli.protocol.records import SessionMessage

__all__ = ["Usage"]  # tokens and cost of a reply or a session: the reducer's totals

ReplyState = Literal["waiting", "streaming", "done", "cancelled", "failed"]
ToolStatus = Literal["requested", "pending", "running", "ok", "error", "denied", "cancelled"]


@dataclass
class TextPart:
    text: str = ""


@dataclass
class ToolCall:
    call_id: str
    server: str
    tool: str
    arguments: Any = field(default_factory=dict)
    status: ToolStatus = "requested"
    result: str | None = None
    duration_ms: int | None = None
    decided_by: str | None = None
    #: Images the tool returned (shown below the call).
    media: list[MediaRef] = field(default_factory=list)
    #: The last ``tool.progress`` of a running call: ``(progress, total, message)``.
    progress: tuple[float, float | None, str] | None = None

    @property
    def name(self) -> str:
        return f"{self.server}.{self.tool}" if self.server else self.tool


@dataclass
class MediaNote:
    """An attachment's ``media.processed`` / ``media.failed``, or the text heard
    in spoken input (``transcript.delta``), shown in the reply."""

    text: str
    kind: Literal["media", "failed", "transcript"] = "media"


@dataclass
class UserRecord:
    text: str
    agent: str | None = None
    #: Files sent with the message: stored media (shown as images or placeholders) ...
    media: tuple[MediaRef, ...] = ()
    #: ... and text files sent as text (their labels). Tuples: most messages have
    #: none, and a long session keeps hundreds of these records.
    files: tuple[str, ...] = ()


@dataclass
class NoteRecord:
    """A line from the app itself (command output, hints)."""

    text: str
    kind: Literal["info", "warning"] = "info"


@dataclass
class ErrorRecord:
    message: str
    hint: str | None = None
    code: str = "error"


@dataclass
class ReplyRecord:
    agent: str | None = None
    route_reason: str | None = None
    route_method: str | None = None
    #: Why the router's answer was not used (``agent.routed``'s ``failure``), if it was not.
    route_failure: str | None = None
    memories: list[dict[str, Any]] = field(default_factory=list)
    parts: list[TextPart | ToolCall | MediaNote | ReplyRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    state: ReplyState = "waiting"
    error: ErrorRecord | None = None
    duration_ms: int | None = None
    run_id: str | None = None
    depth: int = 0

    @property
    def text(self) -> str:
        """The reply's own text (delegates excluded)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    def tool(self, call_id: str) -> ToolCall | None:
        for part in self.parts:
            if isinstance(part, ToolCall) and part.call_id == call_id:
                return part
        return None


Record = UserRecord | ReplyRecord | NoteRecord | ErrorRecord


def record_text(record: Record) -> str:
    """The copyable text of a record."""
    if isinstance(record, ReplyRecord):
        return record.text
    if isinstance(record, ErrorRecord):
        return record.message + (f"\n{record.hint}" if record.hint else "")
    return record.text


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced/indented code blocks of a Markdown text."""
    from markdown_it import MarkdownIt  # deferred: markdown_it is slow to import

    tokens = MarkdownIt("commonmark").parse(markdown)
    return [t.content.rstrip("\n") for t in tokens if t.type in ("fence", "code_block")]


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _tool_call_from_stored(call: dict[str, Any]) -> ToolCall:
    """Build a :class:`ToolCall` from a stored assistant ``tool_calls`` entry (shapes vary)."""
    raw_function = call.get("function")
    function: dict[str, Any] = raw_function if isinstance(raw_function, dict) else {}
    name = str(call.get("name") or function.get("name") or "tool")
    server = str(call.get("server") or "")
    tool = str(call.get("tool") or "")
    if not tool:
        server, _, tool = name.rpartition("__") if "__" in name else ("", "", name)
    arguments = call.get("arguments", function.get("arguments", {}))
    return ToolCall(
        call_id=str(call.get("id") or call.get("call_id") or ""),
        server=server,
        tool=tool,
        arguments=_arguments(arguments),
        status="ok",
    )


def records_from_messages(messages: list[SessionMessage]) -> list[Record]:
    """Turn a stored session into transcript records."""
    out: list[Record] = []
    reply: ReplyRecord | None = None
    from muxi_cli.protocol.messages import MEDIA_PART_TYPES, media_of  # deferred: as the records

    for msg in messages:
        if msg.role == "user":
            media = tuple(p.media for p in msg.parts if isinstance(p, MEDIA_PART_TYPES))
            out.append(UserRecord(msg.content if media else msg.display_text(), media=media))
            reply = None
        elif msg.role == "assistant":
            if reply is None or msg.run_id != reply.run_id or msg.run_id is None:
                reply = ReplyRecord(agent=msg.agent, run_id=msg.run_id, state="done")
                meta = msg.meta or {}
                if isinstance(meta.get("route_reason"), str):
                    reply.route_reason = meta["route_reason"]
                out.append(reply)
            if msg.content or msg.parts:
                shown = msg.display_text()
                if shown:
                    reply.parts.append(TextPart(shown))
            for stored in msg.tool_calls or []:
                if isinstance(stored, dict):
                    reply.parts.append(_tool_call_from_stored(stored))
            if msg.status not in ("complete", "done", "ok"):
                reply.state = "cancelled" if msg.status in ("cancelled", "partial") else reply.state
        elif msg.role == "tool" and reply is not None and msg.tool_call_id:
            call = reply.tool(msg.tool_call_id)
            if call is not None:
                call.result = msg.content
                call.media = [
                    p.media for p in media_of(msg.parts) if p.media.media_type.startswith("image/")
                ]
                if (msg.meta or {}).get("cancelled"):
                    call.status = "cancelled"
                elif (msg.meta or {}).get("ok") is False or msg.status == "error":
                    call.status = "error"
        elif msg.role == "system":
            continue
    return out
