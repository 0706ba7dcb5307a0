"""``muxi serve --web``: the chat app in a browser under ``/web/``, behind the server's keys.

The browser signs in by typing a key into a form (``POST /web/login``): a key
never travels in a URL, so it cannot end up in an access log, the browser's
history or a Referer. A valid key opens a session (an HttpOnly, SameSite=Strict
cookie scoped to ``/web``); each WebSocket then runs the chat app as a child
process connected back to this server with that key (:mod:`muxi_cli.web.remote`).

Only admin keys may sign in: the chat app runs on the server machine, and it
can attach any file this machine's user can read (``@/path``); a user key must
not grant that. Logins share the API's throttle of failed keys per address.

A session lives as long as its key: once the key is revoked (or no longer
admin) the session is closed, and its open WebSockets are closed and their
chat apps stopped within ``ws_key_check`` seconds. The child must not outlive
the key: it runs on this machine and can start programs (``/mcp inspect``)
without asking the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from typing import Any

from muxi_cli.errors import MuxiError, ServerAuthError
from muxi_cli.server.auth import REVOKED_MESSAGE, until_revoked
from muxi_cli.server.context import ServerContext
from muxi_cli.server.limits import retry_after_header
from muxi_cli.web.child import Children, TooManyApps, to_int
from muxi_cli.web.gate import PAGE_HEADERS, Sessions, page_headers, same_origin
from muxi_cli.web.page import page_html, static_dir, websocket_url
from muxi_cli.web.remote import remote_child, server_url

PREFIX = "/web"
COOKIE = "muxi_web"
CROSS_SITE_TEXT = "403 Forbidden: sign in from this server's own /web/ page.\n"

_LOGIN = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>muxi: sign in</title>
<style>body {{ background: #0c181f; color: #eee; font: 16px monospace; display: flex;
justify-content: center; margin-top: 20vh; }} input, button {{ font: inherit; padding: 8px; }}
p.error {{ color: #f77; }}</style></head>
<body><form method="post" action="{prefix}/login">
<p>The chat app of this muxi server. Sign in with an admin key.</p>{message}
<p><input type="password" name="key" autocomplete="off" autofocus size="48"
 placeholder="muxi_..."> <button type="submit">Open</button></p>
</form></body></html>
"""


#: The sign-in page's headers: as every page's, except that its form post must
#: carry an ``Origin`` (browsers send ``Origin: null`` under ``no-referrer``).
_LOGIN_HEADERS = {**page_headers(), "Referrer-Policy": "same-origin"}


def login_page(message: str = "", status: int = 200) -> Any:
    from starlette.responses import HTMLResponse  # deferred: Starlette is slow to import

    shown = f'<p class="error">{html.escape(message)}</p>' if message else ""
    body = _LOGIN.format(prefix=PREFIX, message=shown)
    return HTMLResponse(body, status_code=status, headers=_LOGIN_HEADERS)


def add_web(app: Any, ctx: ServerContext) -> None:
    """Add ``/web/`` (page or sign-in form), ``/web/login``, ``/web/ws`` and ``/web/static``."""
    from starlette.requests import Request  # deferred: Starlette is slow to import
    from starlette.responses import PlainTextResponse, RedirectResponse, Response
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from muxi_cli.server.app import (  # deferred: app imports this module lazily
        TooManyRequests,
        authenticate,
    )

    sessions = Sessions(COOKIE)
    children = Children()

    def active_key(cookies: Any) -> str | None:
        """The key of the browser's session while it is a valid admin key; else
        None, and the session is closed. Raises MuxiError if the key file is unreadable."""
        sid = cookies.get(COOKIE)
        key = (sessions.env(sid) or {}).get("MUXI_API_KEY")
        if not key:
            return None
        try:
            admin = ctx.caller(key, None).admin
        except ServerAuthError:
            admin = False  # revoked (or expired) meanwhile: the session ends with its key
        if not admin:
            sessions.close(sid)
            return None
        return key

    def session_key(cookies: Any) -> str | None:
        try:
            return active_key(cookies)
        except MuxiError:
            return None  # refused for now; the session stays for the next try

    async def index(request: Request) -> Response:
        if session_key(request.cookies) is None:
            return login_page()
        host = request.headers.get("host", "")
        ws_url = websocket_url(host, f"{PREFIX}/ws", request.url.scheme == "https")
        body = page_html(ws_url, f"{PREFIX}/static/", "muxi")
        return Response(body, media_type="text/html", headers=page_headers(ws_url))

    async def login(request: Request) -> Response:
        # A login form posted from another site would sign this browser in as
        # someone else (login CSRF): only this host's own page may post it.
        if not same_origin(request.headers.get("origin"), request.headers.get("host")):
            return PlainTextResponse(CROSS_SITE_TEXT, status_code=403, headers=PAGE_HEADERS)
        form = await request.form()
        key = str(form.get("key") or "").strip()
        client = request.client.host if request.client else None
        try:
            caller = authenticate(ctx, {"authorization": f"Bearer {key}"}, client, request.state)
        except MuxiError as exc:
            page = login_page(exc.message, exc.http_status)
            if isinstance(exc, TooManyRequests):  # as the API's 429 says
                page.headers["Retry-After"] = retry_after_header(exc.retry_after)
            return page
        if not caller.admin:
            return login_page("only admin keys may open the chat app in a browser", 403)
        sid = sessions.open({"MUXI_API_KEY": key})
        secure = request.url.scheme == "https"
        response = RedirectResponse(f"{PREFIX}/", status_code=303, headers=PAGE_HEADERS)
        response.headers["set-cookie"] = sessions.set_cookie(sid, PREFIX, secure)
        return response

    async def web_socket(websocket: WebSocket) -> None:
        key = session_key(websocket.cookies)
        origin_ok = same_origin(websocket.headers.get("origin"), websocket.headers.get("host"))
        if key is None or not origin_ok:
            await websocket.close(code=1008)  # before accept: the handshake gets 403
            return
        local = websocket.scope.get("server") or ("127.0.0.1", 0)
        child = remote_child(server_url(str(local[0]), int(local[1])), key)
        try:
            service = children.start_service(
                child.spec,
                {},
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_text,
                close=websocket.close,
            )
        except TooManyApps:
            child.remove()
            await websocket.close(code=1013)  # before accept: 403; 1013 says "try again later"
            return
        cookies = dict(websocket.cookies)

        async def end_when_revoked() -> None:
            await until_revoked(lambda: active_key(cookies) is not None, ctx.settings.ws_key_check)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # closed meanwhile
                await websocket.close(code=1008, reason=REVOKED_MESSAGE)
            await service.stop()  # now, whether or not the browser answers the close

        width = to_int(websocket.query_params.get("width"), 80)
        height = to_int(websocket.query_params.get("height"), 24)
        watch: asyncio.Task[None] | None = None
        try:
            await websocket.accept()
            watch = asyncio.create_task(end_when_revoked())
            await children.run(service, width, height, _texts(websocket), websocket.send_text)
        finally:
            if watch is not None:
                watch.cancel()
            children.discard(service)
            child.remove()

    # FastAPI reads the annotations; this module postpones them.
    index.__annotations__ = {"request": Request, "return": Response}
    login.__annotations__ = {"request": Request, "return": Response}
    web_socket.__annotations__ = {"websocket": WebSocket, "return": None}
    app.add_api_route(f"{PREFIX}/", index, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{PREFIX}/login", login, methods=["POST"], include_in_schema=False)
    app.add_api_websocket_route(f"{PREFIX}/ws", web_socket)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=static_dir()), name="web-static")


async def _texts(websocket: Any) -> Any:
    """The browser's text messages until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            yield message["text"]
