"""Small helpers shared by the remote runtime and profile checks: SSE, errors, timeouts."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from muxi_cli.errors import (
    ConnectionFailedError,
    MediaTooLargeError,
    MuxiError,
    NotFoundError,
    ServerAuthError,
)

SSE_MEDIA = "text/event-stream"
#: Response headers of a streamed turn (``POST /v1/chat`` as SSE): its ids,
#: sent before the first event so a client knows them at once.
RUN_HEADER = "x-muxi-run-id"
SESSION_HEADER = "x-muxi-session-id"
#: A turn start's idempotency key: the ``POST /v1/chat`` header, and the field
#: beside ``request`` in the WebSocket ``chat`` frame (server/turn_keys.py).
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_FIELD = "idempotency_key"
#: The media store's default per-file limit (``stores.media.DEFAULT_MAX_BYTES``,
#: which a test keeps equal): the remote client needs the number, not the store
#: modules (~5 ms to import).
MEDIA_MAX_BYTES = 20 * 1024 * 1024
#: The URL a server on a Unix socket goes by (in requests' Host header and in messages).
UNIX_URL = "http://muxi-host"


class Timeout(NamedTuple):
    """A request's time limits in seconds: ``seconds`` for each step, unless
    ``connect`` or ``read`` (the wait for each piece of the answer) say otherwise."""

    seconds: float
    connect: float | None = None
    read: float | None = None


class TransportError(Exception):
    """The server could not be reached, or the connection failed mid-answer
    (the Unix-socket client's counterpart of ``httpx.HTTPError``)."""


class Response(Protocol):
    """What callers read of an answer: ``httpx.Response`` (TCP) or the
    Unix-socket client's own (:mod:`muxi_cli.runtime.unixhttp`)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...

    def json(self) -> Any: ...

    def aiter_lines(self) -> AsyncIterator[str]: ...

    async def aread(self) -> bytes: ...

    async def aclose(self) -> None: ...


def unix_target(url: str, uds: Path | None) -> tuple[str, Path | None]:
    """``(url, socket)`` for a server URL: ``unix:/path`` names a socket of this machine."""
    if uds is None and url.startswith("unix:"):
        return UNIX_URL, Path(url[len("unix:") :])
    return url, uds


def skip_httpx_cli() -> None:
    """Make the coming ``import httpx`` skip httpx's command-line tool.

    ``httpx/__init__`` imports ``httpx._main`` (its CLI: click, rich.syntax,
    pygments; ~40 ms, a third of a warm one-shot client) inside
    ``try/except ImportError``. A ``None`` entry in ``sys.modules`` makes that
    import fail at once, so httpx falls back to its stub ``main``; muxi never
    runs httpx's CLI. Done only while httpx is not imported yet; the guard test
    (tests/runtime/test_lean_client.py) fails if an httpx upgrade drops the try.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined with newlines).

    Comments (``: keep-alive``) and other fields are skipped.
    """
    async for _id, data in iter_sse_ids(lines):
        yield data


async def iter_sse_ids(lines: AsyncIterator[str]) -> AsyncIterator[tuple[int | None, str]]:
    """``(id, data)`` of each server-sent event: its ``id:`` as a number (None when
    it has none, or not a number: an older server sends none), and its data."""
    data: list[str] = []
    seq: int | None = None
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield seq, "\n".join(data)
                data = []
            seq = None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "id":
            seq = int(value) if value.isdigit() else None
    if data:
        yield seq, "\n".join(data)


#: What a muxi server's router says for a path or method it does not have, as
#: opposed to a record it does not have ("session 'x' not found").
_NO_ROUTE = {("not_found", "Not Found"), ("method_not_allowed", "Method Not Allowed")}


def error_from_body(status: int, body: bytes | str, url: str = "", path: str = "") -> MuxiError:
    """The :class:`MuxiError` behind an HTTP error answer of a muxi server."""
    try:
        obj: Any = json.loads(body) if body else None
    except ValueError:
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        error = obj["error"]
        if (error.get("code"), error.get("message")) in _NO_ROUTE and path:
            # A client newer than its server asked for something added since.
            return NotFoundError(
                f"the server at {url or 'this profile'} has no {path.split('?')[0]}: "
                "it runs an older muxi than this client",
                hint="upgrade muxi on the server; `muxi profile test NAME` shows its version",
            )
        return MuxiError.from_dict(error)
    if status == 413:  # a proxy in front of the server may refuse a large upload itself
        return MediaTooLargeError(
            "the server refused the upload as too large", hint="send a smaller file"
        )
    if status == 401:
        return ServerAuthError(
            "the server rejected the API key", hint="check the key stored for this profile"
        )
    where = f" from {url}" if url else ""
    err = MuxiError(
        f"unexpected HTTP {status}{where}",
        hint="is this URL a muxi server? `muxi profile test NAME` checks it",
    )
    if status in _GATEWAY:  # a proxy's own answer: a keyed turn start may be tried again
        err.code = _GATEWAY[status]  # type: ignore[misc]
    return err


#: The codes of a proxy's bare 502/503/504 (the Python client's names for them).
_GATEWAY = {502: "bad_gateway", 503: "unavailable", 504: "gateway_timeout"}


def connection_error(url: str, exc: BaseException) -> ConnectionFailedError:
    return ConnectionFailedError(
        f"cannot reach the muxi server at {url}: {type(exc).__name__}: {exc}".rstrip(": "),
        hint="is `muxi serve` running there? check the profile's URL with `muxi profile show NAME`",
    )


def turn_key() -> str:
    """A fresh idempotency key for one turn start (sent again only on a retry of it)."""
    return secrets.token_urlsafe(18)
