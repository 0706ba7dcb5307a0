"""Requests of the Python client: typed errors, the API version check, retries.

Everything goes through :class:`~muxi_cli.runtime.client.ServerClient` (the
CLI's own HTTP client: httpx over TCP, the standard library over a local
host's Unix socket), which already sends ``Muxi-Api-Version``. This module
adds what a library caller needs on top:

- every error answer becomes an :class:`~muxi_cli.client.errors.ApiError`
  subclass with its status, code and ``Retry-After``;
- an answer naming another major API version raises
  :class:`~muxi_cli.client.errors.UnsupportedApiVersion` (no header: a 1.0
  server, accepted);
- idempotent requests (GETs) are tried again after a connection failure or a
  429/502/503/504, with doubling backoff, honouring ``Retry-After`` when the
  server asks for at most :data:`MAX_RETRY_WAIT` seconds (a longer wait is
  the caller's decision: the error says how long). Requests that change
  something are never repeated here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Unpack

from muxi_cli.client.errors import (
    ApiError,
    ClientClosed,
    ConnectionFailed,
    UnsupportedApiVersion,
    from_answer,
    from_muxi,
)
from muxi_cli.errors import MuxiError
from muxi_cli.protocol.apiversion import (
    API_MAJOR,
    API_VERSION,
    HEADER,
    UNSUPPORTED,
    parse,
    values,
)
from muxi_cli.runtime.client import RequestOptions, ServerClient
from muxi_cli.runtime.wire import Response

#: Statuses worth another try of an idempotent request: rate limited, or a
#: proxy/replica that is not ready (another try may reach another replica).
RETRY_STATUS = frozenset({429, 502, 503, 504})
#: Tries after the first, and the first wait between them (doubling, at most 4 s).
RETRIES = 3
BACKOFF = 0.25
#: The longest ``Retry-After`` a retry waits for; a longer one is raised at once.
MAX_RETRY_WAIT = 5.0


def check_version(headers: Mapping[str, str], where: str) -> None:
    """Raise :class:`UnsupportedApiVersion` when an answer names another major version."""
    value = headers.get(HEADER) or headers.get(HEADER.lower())
    if value is None:
        return  # a 1.0 server sends none
    try:
        majors = {parse(one)[0] for one in values(value)}
    except ValueError:
        majors = {-1}
    if majors != {API_MAJOR}:
        raise UnsupportedApiVersion(
            f"the server at {where} speaks muxi API {value}; this client speaks {API_VERSION}",
            hint="use a client of the server's major version (docs/clients.md, Compatibility)",
            status=0,
            code=UNSUPPORTED,
        )


def backoff(attempt: int, asked: float | None) -> float:
    """Seconds before try ``attempt + 1``: what the server asked, else doubling backoff."""
    if asked is not None:
        return asked
    return float(min(BACKOFF * 2**attempt, 4.0))


class Transport:
    """One server, one key, one acting user: the requests every namespace makes."""

    def __init__(self, server: ServerClient, user_id: str | None, retries: int = RETRIES) -> None:
        self.server = server
        self.user_id = user_id
        self.retries = max(0, retries)
        #: The event loop the connections were opened in (they cannot move).
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Set by the client's ``aclose``: every later call raises ClientClosed.
        self.closed = False

    def check_open(self) -> None:
        """Raise :class:`ClientClosed` once the client was closed (a call then
        would open a new connection pool behind the caller's back)."""
        if self.closed:
            raise ClientClosed()

    def enter(self) -> None:
        """Refuse a call on a closed client, and, clearly, one from another event
        loop than the first one (a second ``asyncio.run``): the connections
        belong to the first, and the HTTP library's own error there was a bare
        "Event loop is closed"."""
        self.check_open()
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        elif self.loop is not loop:
            raise RuntimeError(
                "this AsyncClient was used in another event loop (an earlier asyncio.run); "
                "open one AsyncClient per loop, or use the blocking Client"
            )

    async def send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        stream: bool = False,
        **options: Unpack[RequestOptions],
    ) -> Response:
        """A successful answer (streamed: its body unread, the caller closes it);
        any failure raises an :class:`ApiError`."""
        self.enter()
        if idempotent is None:
            idempotent = method == "GET"
        options.setdefault("user_id", self.user_id)
        attempt = 0
        while True:
            try:
                resp = await self.server.send(method, path, stream=stream, **options)
            except MuxiError as exc:  # no answer (ServerClient says ConnectionFailedError)
                err = from_muxi(exc)
                if not (idempotent and attempt < self.retries):
                    raise err from exc
                await asyncio.sleep(backoff(attempt, None))
                attempt += 1
                continue
            if resp.status_code < 400:
                try:
                    check_version(resp.headers, self.server.where)
                except ApiError:
                    await resp.aclose()
                    raise
                return resp
            err = await self._error(resp, stream)
            asked = err.retry_after
            if (
                idempotent
                and attempt < self.retries
                and resp.status_code in RETRY_STATUS
                and (asked is None or asked <= MAX_RETRY_WAIT)
            ):
                await asyncio.sleep(backoff(attempt, asked))
                attempt += 1
                continue
            raise err

    async def _error(self, resp: Response, stream: bool) -> ApiError:
        try:
            body = await resp.aread() if stream else resp.content
        except self.server.errors as exc:
            lost = ConnectionFailed(
                f"the connection to {self.server.where} broke while reading an error answer",
                status=resp.status_code,
                code="connection_failed",
            )
            lost.__cause__ = exc
            return lost
        finally:
            if stream:
                await resp.aclose()
        err = from_answer(resp.status_code, body, resp.headers)
        if not isinstance(err, UnsupportedApiVersion):
            # A refused version is its own error; anything else from another
            # major is said as the version mismatch it really is.
            try:
                check_version(resp.headers, self.server.where)
            except UnsupportedApiVersion as mismatch:
                mismatch.__cause__ = err
                return mismatch
        return err

    async def json(self, method: str, path: str, **options: Any) -> Any:
        """The decoded JSON answer (``None`` when empty)."""
        resp = await self.send(method, path, **options)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise ApiError(
                f"the server at {self.server.where} sent a non-JSON answer",
                hint="is this URL a muxi server?",
                status=resp.status_code,
                code="bad_answer",
            ) from exc

    async def bytes(self, method: str, path: str, **options: Any) -> bytes:
        resp = await self.send(method, path, **options)
        return bytes(resp.content)
