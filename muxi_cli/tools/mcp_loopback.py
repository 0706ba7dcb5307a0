"""The loopback redirect of an OAuth login (RFC 8252 §7.3).

A one-shot HTTP listener on 127.0.0.1: the browser comes back to
``http://127.0.0.1:PORT/callback?code=...&state=...``; the listener answers
with a short page and hands the query to the login. Anything else gets a 404,
and once the login knows its OAuth ``state``, a redirect carrying another one
gets a 400 and the listener keeps waiting: another local process cannot spoil
a login in progress by calling the callback first.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

_PAGE = (
    "<!doctype html><meta charset=utf-8><title>muxi</title>"
    "<p>{text}</p><p>You can close this tab and go back to the terminal.</p>"
)


def parse_redirect(text: str) -> dict[str, str]:
    """The parameters of a redirect: a whole URL, a path with a query, or a bare query."""
    text = text.strip()
    query = urlsplit(text).query if ("?" in text or "://" in text) else text
    return dict(parse_qsl(query))


class Loopback:
    """``async with Loopback(host, port, path) as lb``: ``lb.port``, ``await lb.wait()``."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host = host
        self.port = port
        self.path = path
        self._server: asyncio.Server | None = None
        self._got: asyncio.Future[str] | None = None
        #: The ``state`` of the login's authorization URL (None: not known yet).
        self.state: str | None = None

    def expect(self, authorization_url: str) -> None:
        """Accept only redirects with the ``state`` of ``authorization_url``."""
        self.state = parse_redirect(authorization_url).get("state")

    async def __aenter__(self) -> Loopback:
        self._got = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def wait(self) -> str:
        """The request target of the first redirect that reached the callback path."""
        assert self._got is not None
        return await asyncio.shield(self._got)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            # The headers are not needed, but read them so the browser sees a clean reply.
            while (await asyncio.wait_for(reader.readline(), 10)).strip():
                pass
            parts = line.decode("latin-1").split()
            target = parts[1] if len(parts) >= 2 else ""
            if parts[:1] != ["GET"] or urlsplit(target).path != self.path:
                self._reply(writer, 404, "Not the muxi login callback.")
            elif self.state is not None and parse_redirect(target).get("state") != self.state:
                self._reply(writer, 400, "Not the answer this muxi login waits for.")
            else:
                params = parse_redirect(target)
                ok = "code" in params and "error" not in params
                text = "muxi is signed in." if ok else "The authorization did not succeed."
                self._reply(writer, 200, text)
                if self._got is not None and not self._got.done():
                    self._got.set_result(target)
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _reply(writer: asyncio.StreamWriter, status: int, text: str) -> None:
        body = _PAGE.format(text=text).encode()
        reason = {200: "OK", 400: "Bad Request"}.get(status, "Not Found")
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
