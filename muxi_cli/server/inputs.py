"""Refuse control characters in a request's path and query string (pure ASGI).

Path and query values reach SQLite (FTS ``MATCH`` stops at a NUL and fails
with "unterminated string"), LanceDB filters and MCP servers. No legitimate
id, search text or URI holds a NUL or another C0 control character (tab,
newline and carriage return excepted in query values), so they are refused
with a 400 before any route sees them.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from muxi_cli.server.limits import ASGIApp, Receive, Scope, Send, send_json_error

_ALLOWED_IN_QUERY = frozenset(b"\t\n\r")


def _hostile(data: bytes, allowed: frozenset[int] = frozenset()) -> bool:
    return any((b < 0x20 or b == 0x7F) and b not in allowed for b in data)


def hostile_request(scope: Scope) -> str | None:
    """Which part of the request holds control characters, or None."""
    path = str(scope.get("path", ""))
    if _hostile(path.encode("utf-8", "surrogateescape")):
        return "the path"
    query = bytes(scope.get("query_string", b""))
    if query and _hostile(unquote_to_bytes(query.replace(b"+", b" ")), _ALLOWED_IN_QUERY):
        return "the query string"
    return None


class HostileInputMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = hostile_request(scope) if scope["type"] in ("http", "websocket") else None
        if where is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await send_json_error(
                send,
                400,
                "usage_error",
                f"invalid request: {where} holds control characters (such as NUL)",
                "remove them; ids, search texts and URIs never need them",
            )
        else:  # a WebSocket handshake: refuse it
            await send({"type": "websocket.close", "code": 1008})
