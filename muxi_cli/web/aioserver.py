"""The stand-alone server of ``muxi web`` (aiohttp, which textual-serve brings).

Routes: ``/`` (the page; ``/?token=...`` once, to open a session), ``/ws``
(one chat app per connection), ``/download/{key}`` (files the app delivers)
and ``/static`` (textual-serve's scripts, styles and fonts: public, they hold
nothing of the user's). Everything but ``/static`` needs the session cookie.
Bound to a loopback address, it answers only requests whose ``Host`` names
loopback (no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import WSMsgType, web

from muxi_cli.web.child import Children, ChildSpec, TooManyApps, to_int
from muxi_cli.web.gate import (
    FORBIDDEN_TEXT,
    PAGE_HEADERS,
    OneTimeToken,
    Sessions,
    cookie_name,
    loopback_host,
    page_headers,
    same_origin,
)
from muxi_cli.web.page import page_html, static_dir, websocket_url

log = logging.getLogger("muxi.web")


def forbidden() -> web.Response:
    return web.Response(status=403, text=FORBIDDEN_TEXT, headers=PAGE_HEADERS)


class WebServer:
    """One ``muxi web``: a token, its sessions and the chat apps they run."""

    def __init__(
        self, spec: ChildSpec, token: OneTimeToken | None = None, children: Children | None = None
    ) -> None:
        self.spec = spec
        self.token = token or OneTimeToken()
        self.sessions = Sessions(cookie_name())
        self.children = children or Children()

    def make_app(self, loopback: bool = True) -> web.Application:
        """The routes; ``loopback``: refuse a ``Host`` that does not name loopback."""
        app = web.Application(middlewares=[_loopback_only] if loopback else [])
        app.add_routes(
            [
                web.get("/", self.index),
                web.get("/ws", self.websocket),
                web.get("/download/{key}", self.download),
                web.static("/static", static_dir(), show_index=False),
            ]
        )
        app.on_shutdown.append(self._on_shutdown)
        return app

    def _session(self, request: web.Request) -> dict[str, str] | None:
        return self.sessions.env(request.cookies.get(self.sessions.cookie))

    async def index(self, request: web.Request) -> web.StreamResponse:
        if "token" in request.query:
            if not self.token.spend(request.query.get("token")):
                return forbidden()
            sid = self.sessions.open()
            # 303 to the bare path: the spent token leaves the address bar.
            response = web.HTTPSeeOther("/", headers=PAGE_HEADERS)
            response.headers["Set-Cookie"] = self.sessions.set_cookie(sid)
            return response
        if self._session(request) is None:
            return forbidden()
        ws_url = websocket_url(request.host, "/ws", request.secure)
        body = page_html(ws_url, "/static/", font_size=to_int(request.query.get("fontsize"), 16))
        return web.Response(text=body, content_type="text/html", headers=page_headers(ws_url))

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        env = self._session(request)
        if env is None or not same_origin(request.headers.get("Origin"), request.host):
            return forbidden()
        socket = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_MESSAGE)
        try:
            service = self.children.start_service(
                self.spec,
                env,
                write_bytes=socket.send_bytes,
                write_str=socket.send_str,
                close=socket.close,
            )
        except TooManyApps as exc:
            return web.Response(status=503, text=f"503 {exc}\n", headers=PAGE_HEADERS)
        try:
            await socket.prepare(request)
        except BaseException:
            self.children.discard(service)
            raise
        width = to_int(request.query.get("width"), 80)
        height = to_int(request.query.get("height"), 24)
        await self.children.run(service, width, height, _texts(socket), socket.send_str)
        await socket.close()
        return socket

    async def download(self, request: web.Request) -> web.StreamResponse:
        if self._session(request) is None:
            return forbidden()
        key = request.match_info["key"]
        try:
            meta = await self.children.downloads.get_download_metadata(key)
        except KeyError:
            raise web.HTTPNotFound(text="no such download\n") from None
        response = web.StreamResponse(headers=download_headers(meta))
        await response.prepare(request)
        async for chunk in self.children.downloads.download(key):
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.children.stop_all()


#: The largest WebSocket message taken from a browser: keystrokes and pastes
#: (aiohttp's default is 4 MB).
MAX_MESSAGE = 1024 * 1024


@web.middleware
async def _loopback_only(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    # A page that rebinds its own name to 127.0.0.1 reaches this port with
    # ``Host: its-name``; only a browser that asked for loopback gets an answer.
    if not loopback_host(request.host):
        return forbidden()
    return await handler(request)


def download_headers(meta: Any) -> dict[str, str]:
    """Headers of a delivered file; the name is quoted so it cannot add headers.

    ``sandbox``: a delivered file shown in the browser (HTML, SVG) runs in an
    origin of its own, so its scripts cannot reach this server's WebSocket
    with the session's cookie and ``Origin``.
    """
    content_type = meta.mime_type + (f"; charset={meta.encoding}" if meta.encoding else "")
    disposition = "inline" if meta.open_method == "browser" else "attachment"
    name = "".join(c for c in str(meta.file_name) if c.isprintable() and c not in '"\\')
    return {
        "Content-Type": content_type,
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Content-Security-Policy": "sandbox",
    }


async def _texts(socket: web.WebSocketResponse) -> AsyncIterator[str]:
    async for message in socket:
        if message.type == WSMsgType.TEXT:
            yield message.data
        elif message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            return


async def run(
    server: WebServer, host: str, port: int, on_listening: Callable[[str, int], None]
) -> None:
    """Serve until SIGINT or SIGTERM; ``on_listening(host, port)`` once bound."""
    app = server.make_app(loopback=loopback_host(host))
    # No access log: the first request's URL holds the token.
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=2)
        await site.start()
        bound = runner.addresses[0]
        on_listening(host, int(bound[1]))
        await stop.wait()
    finally:
        await runner.cleanup()
