"""The WebSocket's frames: parsing them, and what the connection refuses (server/ws.py)."""

from __future__ import annotations

import json
from typing import Any

from muxi_cli.errors import ServerAuthError, UsageError

#: Frames after which the key is checked again (they start or finish work).
STARTS_WORK = frozenset(
    (
        "chat",
        "resume",
        "approve",
        "elicit",
        "cancel",
        "media.begin",
        "media.end",
        "audio.begin",
        "audio.end",
    )
)


class Revoked(ServerAuthError):
    """A frame (or the periodic check) found the connection's key revoked."""


class Busy(UsageError):
    """A chat frame while a turn runs: refused, no 'done' (the running turn sends it)."""


def parse_frame(raw: str) -> dict[str, Any]:
    try:
        frame = json.loads(raw)
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        raise UsageError("frames are JSON objects", hint="see docs/server.md")
    return frame


def frame_ref(raw: str | bytes) -> str | None:
    if isinstance(raw, bytes):
        return None
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    return str(frame.get("type")) if isinstance(frame, dict) else None


def elicit_frame(frame: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
    """``{"type": "elicit", "elicitation_id", "action", "content"}``, checked."""
    eid = frame.get("elicitation_id")
    action = frame.get("action")
    content = frame.get("content")
    if not isinstance(eid, str) or not eid:
        raise UsageError("elicitation_id must be the elicitation.requested event's")
    if action not in ("accept", "decline", "cancel"):
        raise UsageError("action must be one of: accept, decline, cancel")
    if content is not None and not isinstance(content, dict):
        raise UsageError("content must be an object of the requested fields")
    return eid, action, content
