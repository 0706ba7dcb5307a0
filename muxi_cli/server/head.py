"""HEAD for every GET route of ``muxi serve``: the GET's status and headers, no body.

Starlette's own ``Route`` answers HEAD for a GET route, but FastAPI's routes
(``APIRoute``) match only the methods they were declared with, so a HEAD to
``/v1/me`` or ``/health`` was a 405. Declaring HEAD on every route would also
put a second operation per route into the OpenAPI document. Instead this
middleware, innermost, hands a HEAD request to the app as the GET it stands
for (the same auth, rate limit and answer: status, ``Content-Length``,
``ETag``...), and sends only the answer's head. A streamed answer (a run's
events) ends after its head: the app then sees the client gone, as when a
reader disconnects. The middlewares around it still see ``HEAD``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

Message = dict[str, Any]
#: Set in the scope of a GET that stands for a HEAD: a GET route that acts (the
#: MCP login callback) answers a HEAD without acting, as HEAD must be safe.
AS_HEAD = "muxi.head"
#: The end of an answer's body, sent right after its head.
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}


class HeadAsGetMiddleware:
    """Answer ``HEAD`` like ``GET`` without the body (see the module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        inner = {**scope, "method": "GET", AS_HEAD: True}
        done = asyncio.Event()

        def share() -> None:
            # What routing found (the route, its parameters) is seen by the
            # middlewares outside this one, as for any other request.
            for key, value in inner.items():
                if key not in scope:
                    scope[key] = value

        async def head_only(message: Message) -> None:
            if message["type"] == "http.response.start":
                share()
                await send(message)
                await send(_END)
                done.set()
            # Body messages are dropped: the answer ended with its head.

        async def until_done() -> Message:
            # Once the head is out the client has all it asked for: a streamed
            # answer (which listens for this) stops as if its reader went away.
            if done.is_set():
                return {"type": "http.disconnect"}
            asked = asyncio.ensure_future(receive())
            ended = asyncio.ensure_future(done.wait())
            try:
                await asyncio.wait((asked, ended), return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                asked.cancel()
                ended.cancel()
                raise
            ended.cancel()
            if asked.done():
                return dict(asked.result())
            asked.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asked
            return {"type": "http.disconnect"}

        await self.app(inner, until_done, head_only)
