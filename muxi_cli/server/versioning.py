"""The API version on the wire (protocol/apiversion.py).

Every HTTP response and WebSocket handshake answer carries
``Muxi-Api-Version: 1.1``. A client may say which version it speaks in the
same header: another major (or a value that is no version) is answered 400
``unsupported_api_version``; a path ``/v<N>/...`` with N other than 1 is
answered 404 with the same code, so a client written for a later API learns
why, instead of a bare "not found". No header means 1.x: clients from before
the header keep working. The WebSocket checks the header after accepting
(server/ws.py), so the refusal can be a frame the client reads; a WebSocket
to a ``/v<N>/`` path is refused the same way here (error frame, close 4400).

A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: it must not
buffer SSE streams or stand in the way of WebSockets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from muxi_cli.errors import MuxiError
from muxi_cli.protocol.apiversion import (
    API_MAJOR,
    API_VERSION,
    HEADER,
    UNSUPPORTED,
    parse,
    values,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER_KEY = HEADER.lower().encode("latin-1")
_HEADER_PAIR = (_HEADER_KEY, API_VERSION.encode("latin-1"))
#: ``/v2/...``, ``/v10`` (not ``/v1/...``, not ``/vendor``).
_VERSIONED_PATH = re.compile(r"^/v(\d{1,6})(?:/|$)")


class UnsupportedApiVersion(MuxiError):
    code = UNSUPPORTED
    http_status = 400


class UnsupportedApiPath(UnsupportedApiVersion):
    http_status = 404


def asked_for(values: Iterable[str]) -> UnsupportedApiVersion | None:
    """The refusal of a request whose version header asks for another major
    (None when the header is absent or fine)."""
    for value in values:
        try:
            major, minor = parse(value)
        except ValueError:
            return UnsupportedApiVersion(
                f"this server speaks muxi API {API_VERSION}; the client asked for "
                f"{value.strip()[:40]!r}, which is not an API version",
                hint=f"send {HEADER}: {API_VERSION} (MAJOR.MINOR), or leave the header out",
            )
        if major != API_MAJOR:
            return UnsupportedApiVersion(
                f"this server speaks muxi API {API_VERSION}; the client asked for {major}.{minor}",
                hint=f"use a client for muxi API {API_MAJOR}.x, or upgrade the server",
            )
    return None


def refused_path(path: str) -> UnsupportedApiVersion | None:
    """The 404 of a ``/v<N>/`` path with N other than the major."""
    match = _VERSIONED_PATH.match(path)
    if match is None or int(match.group(1)) == API_MAJOR:
        return None
    return UnsupportedApiPath(
        f"this server speaks muxi API {API_VERSION}; the path asks for version "
        f"{int(match.group(1))}",
        hint=f"use /v{API_MAJOR}/... paths, or a client for muxi API {API_MAJOR}.x",
    )


def header_values(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    found = [v.decode("latin-1") for k, v in headers if k.lower() == _HEADER_KEY]
    return [one for value in found for one in values(value)]


class ApiVersionMiddleware:
    """Stamps the header on every answer; refuses other majors (a WebSocket's
    header is checked by server/ws.py, see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message.get("type") in ("http.response.start", "websocket.accept"):
                headers = [
                    (k, v) for k, v in message.get("headers") or () if k.lower() != _HEADER_KEY
                ]
                headers.append(_HEADER_PAIR)
                message["headers"] = headers
            await send(message)

        if kind == "http":
            err = refused_path(scope.get("path", "")) or asked_for(
                header_values(scope.get("headers") or ())
            )
            if err is not None:
                await _refuse(err, stamped)
                return
        else:
            err = refused_path(scope.get("path", ""))
            if err is not None:  # /v2/ws: say why, as /v1/ws refuses a header (no bare 403)
                await _refuse_socket(err, receive, stamped)
                return
        await self.app(scope, receive, stamped)


async def _refuse(err: MuxiError, send: Send) -> None:
    body = json.dumps({"error": err.to_dict()}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": err.http_status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse_socket(err: MuxiError, receive: Receive, send: Send) -> None:
    """Accept, send the error frame ``ref: "version"``, close 4400 (as server/ws.py)."""
    if (await receive()).get("type") != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    frame = {"type": "error", "error": err.to_dict(), "ref": "version"}
    await send({"type": "websocket.send", "text": json.dumps(frame, ensure_ascii=False)})
    await send({"type": "websocket.close", "code": 4400})
