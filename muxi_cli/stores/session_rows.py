"""Row helpers of the session store: ids, titles, JSON columns, writer liveness."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
from typing import Any

from muxi_cli.errors import NotFoundError
from muxi_cli.protocol.messages import (
    Part,
    PartError,
    TextPart,
    ToolCallPart,
    legacy_parts,
    parts_from_list,
)
from muxi_cli.protocol.records import SessionInfo, SessionMessage
from muxi_cli.stores.sqldialect import DbRow

TITLE_MAX = 60
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LIST_HINT = "Run `muxi sessions list` to see your sessions."
SESSION_COLS = (
    "s.id, s.title, s.user_id, s.agent, s.created_at, s.updated_at, "
    "(SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS message_count"
)
MESSAGE_COLS = (
    "id, session_id, seq, role, content, agent, run_id, status, created_at, "
    "tool_calls, tool_call_id, meta, parts"
)


def new_session_id() -> str:
    """A short, URL-safe, random session id such as ``s_3f9a1c2b7d4e``."""
    return "s_" + secrets.token_hex(6)


def title_from(text: str) -> str:
    """A session title from a message: its first non-blank line, at most 60 characters."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1].rstrip() + "…"
    return ""


def writer_tag() -> str:
    """``host:pid`` of this process, recorded on replies it streams."""
    return f"{socket.gethostname()}:{os.getpid()}"


def writer_alive(tag: str | None) -> bool:
    """True if ``tag`` names another process on this host that is still running."""
    if not tag or os.name == "nt":  # no cheap, safe liveness probe on Windows
        return False
    host, _, pid_text = tag.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process: only the store's own live replies count (see recover)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def clean_title(title: str) -> str:
    return " ".join(title.split())[:200]


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def not_found(session_id: str) -> NotFoundError:
    return NotFoundError(f"No session {session_id!r}.", hint=LIST_HINT)


def dumps(value: Any) -> str | None:
    if not value:
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def loads(text: str | None, empty: Any) -> Any:
    if not text:
        return empty
    try:
        return json.loads(text)
    except ValueError:
        return empty


def info_from_row(row: DbRow) -> SessionInfo:
    return SessionInfo(
        id=row["id"],
        title=row["title"],
        user_id=row["user_id"],
        agent=row["agent"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        message_count=int(row["message_count"]),
    )


def parts_json(parts: list[Part]) -> str:
    return json.dumps([p.to_dict() for p in parts], ensure_ascii=False, default=str)


def merged_parts(
    old: list[Part], content: str, tool_calls: list[dict[str, Any]] | None
) -> list[Part]:
    """``old`` with its text replaced by ``content`` and, when given, its tool
    calls by ``tool_calls``; media parts stay (a streamed reply's updates)."""
    kept = [p for p in old if not isinstance(p, TextPart | ToolCallPart)]
    calls: list[Part] = (
        [p for p in old if isinstance(p, ToolCallPart)]
        if tool_calls is None
        else [ToolCallPart.from_dict(c) for c in tool_calls]
    )
    return [*([TextPart(content)] if content else []), *kept, *calls]


def row_parts(row: DbRow) -> list[Part]:
    """The parts of a row; derived from the old columns if missing or unreadable."""
    try:
        raw = json.loads(row["parts"]) if row["parts"] else None
        if isinstance(raw, list):
            return parts_from_list(raw)
    except (ValueError, PartError):
        pass
    meta = loads(row["meta"], {})
    return legacy_parts(
        row["role"],
        row["content"] or "",
        loads(row["tool_calls"], []),
        row["tool_call_id"],
        is_error=not (meta.get("ok", True) if isinstance(meta, dict) else True),
    )


def message_from_row(row: DbRow) -> SessionMessage:
    return SessionMessage(
        id=int(row["id"]),
        session_id=row["session_id"],
        seq=int(row["seq"]),
        role=row["role"],
        content=row["content"],
        agent=row["agent"],
        run_id=row["run_id"],
        status=row["status"],
        created_at=row["created_at"],
        tool_calls=loads(row["tool_calls"], []),
        tool_call_id=row["tool_call_id"],
        meta=loads(row["meta"], {}),
        parts=row_parts(row),
    )
