"""Takes the caller's W3C trace context from each request (muxi_cli/tracecontext.py).

A turn started while the request is handled inherits it, so with telemetry on
the turn's span is a child of the caller's span. The headers are only read:
nothing is sent back, and a malformed ``traceparent`` is ignored. HTTP requests
only: a WebSocket stays open for many turns, which are not all part of the
operation that opened it, so each of its turns starts a trace of its own.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from muxi_cli import tracecontext


class TraceContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = state = None
        for name, value in scope.get("headers") or ():
            if name == b"traceparent":
                parent = value.decode("latin-1")
            elif name == b"tracestate":
                state = value.decode("latin-1")
        headers = tracecontext.parse_headers(parent, state)
        if headers is None:
            await self.app(scope, receive, send)
            return
        token = tracecontext.INCOMING.set(headers)
        try:
            await self.app(scope, receive, send)
        finally:
            tracecontext.INCOMING.reset(token)
