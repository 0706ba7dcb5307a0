"""Export a session as Markdown or JSON, with secrets scrubbed.

JSON export (``fmt="json"``) is one object::

    {
      "format": "muxi.session",      # marks the file
      "version": 1,                   # of this export format
      "exported_at": "2026-...Z",
      "session": {id, title, user_id, agent, created_at, updated_at, message_count},
      "messages": [
        {id, session_id, seq, role, content, agent, run_id, status, created_at,
         tool_calls: [...], tool_call_id, meta: {...}, parts: [...]},
        ...
      ],
      "media": [{id, media_type, size, name, meta}, ...]   # every file, once
    }

``session`` and each message are exactly ``SessionInfo.to_dict()`` and
``SessionMessage.to_dict()``, so :func:`load_export` rebuilds the same
objects (``parts`` hold media references, ``media`` lists them; the bytes
stay in the media store).

Markdown links each file (a message's, a tool result's) to
``<session id>-media/<first 12 hex of its id>-<name>`` (:func:`media_links`),
relative to the ``.md``: ``muxi sessions export -o FILE.md`` writes the bytes
there, in a folder next to the file.

Both formats pass every value through :func:`redact`: values under
secret-looking keys (``api_key``, ``token``, ``password``, ``authorization``,
...) and strings that look like API keys or bearer tokens become
``[redacted]``.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from muxi_cli.errors import UsageError
from muxi_cli.protocol.messages import MediaRef, media_of
from muxi_cli.protocol.records import SessionInfo, SessionMessage
from muxi_cli.secrets import REDACTED, redact_text

EXPORT_FORMAT = "muxi.session"
EXPORT_VERSION = 1

_SECRET_KEYS = frozenset(
    {
        "api_key", "apikey", "access_key", "secret_key", "private_key", "client_secret",
        "secret", "password", "passwd", "pwd", "token", "access_token", "refresh_token",
        "id_token", "auth_token", "bearer", "authorization", "proxy_authorization",
        "cookie", "set_cookie", "x_api_key", "x_muxi_key", "credentials", "credential",
    }
)  # fmt: skip
_SECRET_SUFFIXES = ("_api_key", "_secret", "_password", "_token", "_secret_key", "_private_key")


def _secret_key(name: str) -> bool:
    key = name.strip().lower().replace("-", "_")
    return key in _SECRET_KEYS or key.endswith(_SECRET_SUFFIXES)


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with secrets replaced."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if _secret_key(str(k)) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def export_session(
    info: SessionInfo, messages: list[SessionMessage], fmt: Literal["md", "json"]
) -> str:
    """The session as Markdown (``md``) or JSON (``json``, see the module docstring)."""
    if fmt == "json":
        return _to_json(info, messages)
    if fmt == "md":
        return _to_markdown(info, messages)
    raise UsageError(f"Unknown export format {fmt!r}.", hint="Use --format md or --format json.")


def load_export(text: str) -> tuple[SessionInfo, list[SessionMessage]]:
    """Read a JSON export back into the session and its messages."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError("Not a muxi session export (invalid JSON).", hint=str(exc)) from exc
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise UsageError(
            "Not a muxi session export.",
            hint="Export one with `muxi sessions export ID --format json`.",
        )
    if int(data.get("version") or 0) > EXPORT_VERSION:
        raise UsageError(
            f"This session export has format version {data.get('version')}, newer than this muxi.",
            hint="Upgrade muxi to read it.",
        )
    info = SessionInfo.from_dict(data["session"])
    return info, [SessionMessage.from_dict(m) for m in data.get("messages") or []]


def session_refs(messages: list[SessionMessage]) -> list[MediaRef]:
    """Every file the messages hold (tool results' too), each once, in order."""
    out: dict[str, MediaRef] = {}
    for msg in messages:
        for part in media_of(msg.parts):
            out.setdefault(part.media.id, part.media)
    return list(out.values())


def media_folder(info: SessionInfo) -> str:
    """The folder, next to an exported ``.md``, that holds the session's files."""
    return f"{info.id}-media"


def media_file_name(ref: MediaRef) -> str:
    """``<12 hex of the id>-<the name, made safe>`` (or the type's extension)."""
    stem = ref.id[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", ref.name or "").strip("._")[:80]
    if name:
        return f"{stem}-{name}"
    import mimetypes  # deferred: only exports of unnamed files use it

    ext = mimetypes.guess_extension(ref.media_type.split(";", 1)[0].strip()) or ".bin"
    return stem + ext


def media_links(info: SessionInfo, messages: list[SessionMessage]) -> dict[str, str]:
    """Media id -> the path (relative to the ``.md``) its Markdown link names."""
    folder = media_folder(info)
    return {ref.id: f"{folder}/{media_file_name(ref)}" for ref in session_refs(messages)}


def _to_json(info: SessionInfo, messages: list[SessionMessage]) -> str:
    doc = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "session": redact(info.to_dict()),
        "messages": [redact(m.to_dict()) for m in messages],
        "media": [redact(ref.to_dict()) for ref in session_refs(messages)],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def _fence(text: str, lang: str = "") -> str:
    """``text`` in a code fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _call_name(call: dict[str, Any]) -> str:
    server = call.get("server")
    tool = call.get("tool") or call.get("name") or "tool"
    return f"{server}/{tool}" if server and "/" not in str(tool) else str(tool)


def _heading(msg: SessionMessage) -> str:
    role = {"user": "User", "assistant": "Assistant", "tool": "Tool result", "system": "System"}
    head = role.get(msg.role, msg.role.title())
    if msg.agent and msg.role == "assistant":
        head += f" ({msg.agent})"
    if msg.status != "complete":
        head += f" - {msg.status}"
    return f"### {head}"


def _link(ref: MediaRef, kind: str, links: dict[str, str]) -> str:
    # The text is the placeholder text-only front ends show; brackets in a
    # file name are escaped so they cannot end the link early.
    inner = redact_text(f"{kind}: {ref.describe()}")
    inner = inner.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"[{inner}]({links[ref.id]})"


def _media_lines(msg: SessionMessage, links: dict[str, str]) -> list[str]:
    return [_link(part.media, part.type, links) for part in media_of(msg.parts)]


def _to_markdown(info: SessionInfo, messages: list[SessionMessage]) -> str:
    links = media_links(info, messages)
    title = redact_text(info.title) or "Untitled session"
    out = [f"# {title}", ""]
    out.append(f"- Session: `{info.id}`")
    out.append(f"- User: `{redact_text(info.user_id)}`")
    if info.agent:
        out.append(f"- Agent: `{info.agent}`")
    out.append(f"- Created: {info.created_at}")
    out.append(f"- Updated: {info.updated_at}")
    out.append(f"- Messages: {len(messages)}")
    for msg in messages:
        out += ["", _heading(msg), "", f"<sub>{msg.created_at}</sub>", ""]
        # Media parts show as links to the exported files, after the text.
        content = redact_text(msg.content)
        media = _media_lines(msg, links)
        if msg.role == "tool":
            meta = redact(msg.meta)
            name = _call_name(meta) if meta.get("tool") else (msg.tool_call_id or "tool")
            facts = []
            if "ok" in meta:
                facts.append("ok" if meta["ok"] else "error")
            if meta.get("duration_ms") is not None:
                facts.append(f"{meta['duration_ms']} ms")
            summary = html.escape(name + (f" ({', '.join(facts)})" if facts else ""))
            out += [
                "<details>",
                f"<summary>{summary}</summary>",
                "",
                _fence(content),
                *(["", *media] if media else []),
                "",
                "</details>",
            ]
            continue
        if msg.role == "system":
            out += ["> " + line if line else ">" for line in content.splitlines()]
        elif content:
            out.append(content.rstrip())
        out += media
        for call in redact(msg.tool_calls):
            args = call.get("arguments", call.get("input", {}))
            out += [
                "",
                f"Tool call `{_call_name(call)}`:",
                "",
                _fence(json.dumps(args, indent=2, ensure_ascii=False, default=str), "json"),
            ]
    return "\n".join(out).rstrip() + "\n"
