"""The caller's trace context is taken from HTTP requests only (server/tracing.py)."""

from __future__ import annotations

from typing import Any

from muxi_cli import tracecontext
from muxi_cli.server.tracing import TraceContextMiddleware

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def seen_by_the_app(kind: str, headers: list[tuple[bytes, bytes]]) -> Any:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(tracecontext.INCOMING.get())

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: Any) -> None:
        return None

    await TraceContextMiddleware(app)({"type": kind, "headers": headers}, nothing, ignore)
    assert tracecontext.INCOMING.get() is None  # reset after the request
    return seen[0]


async def test_an_http_request_brings_its_trace_context() -> None:
    headers = [(b"traceparent", PARENT.encode()), (b"tracestate", b"v=1")]
    assert await seen_by_the_app("http", headers) == {"traceparent": PARENT, "tracestate": "v=1"}
    assert await seen_by_the_app("http", [(b"traceparent", b"nonsense")]) is None


async def test_a_websocket_handshake_does_not_parent_the_connections_turns() -> None:
    assert await seen_by_the_app("websocket", [(b"traceparent", PARENT.encode())]) is None
