"""HTTP/1.1 over a Unix domain socket with asyncio streams: the local host's client.

A warm ``muxi chat`` through the local host is mostly Python starting and
importing; httpx brings httpcore, anyio, h11, ssl and email along (~40 ms of a
~200 ms turn) for a socket that needs none of them. This client speaks the part
of HTTP/1.1 the muxi server uses, with the standard library only: one request
per connection (``connection: close``), an answer's body delimited by
``content-length``, by chunks, or by the end of the connection, read whole or
as a stream (SSE). Its failures are :class:`~muxi_cli.runtime.wire.TransportError`
subclasses named like httpx's, which
:class:`~muxi_cli.runtime.client.ServerClient` maps to the same MuxiErrors as
the httpx path. Servers reached over TCP (and TLS) still go through httpx.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from muxi_cli.runtime.wire import Timeout, TransportError


class ConnectError(TransportError):
    """The socket is missing, or nobody accepts connections on it."""


class ConnectTimeout(TransportError):
    """Connecting took longer than the connect timeout."""


class ReadTimeout(TransportError):
    """The next piece of the answer took longer than the read timeout."""


class WriteTimeout(TransportError):
    """Sending the request took longer than the timeout."""


class ReadError(TransportError):
    """The connection failed while the answer was read."""


class WriteError(TransportError):
    """The connection failed while the request was sent."""


class RemoteProtocolError(TransportError):
    """The server's answer is not HTTP/1.1 as expected, or it ended early."""


class LocalProtocolError(TransportError):
    """The request cannot be sent as asked (a header value with a line break)."""


#: Bytes read from the socket at a time, and the longest line (status, header, chunk size).
CHUNK = 65536
INCOMPLETE = "peer closed connection without sending complete message body"
_ILLEGAL = ("\r", "\n", "\0")
#: How httpx writes a multipart field's name and file name (HTML5 form encoding).
_FORM_ESCAPES = {ord('"'): "%22", ord("\\"): "\\\\"} | {
    c: f"%{c:02X}" for c in range(0x20) if c != 0x1B
}


class Headers(Mapping[str, str]):
    """An answer's headers by name, any case; a repeated header's values joined by ", "."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._items: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            self._items[key] = f"{self._items[key]}, {value}" if key in self._items else value

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def query(params: Mapping[str, Any] | None) -> str:
    """``?a=1&b=x`` for the parameters (values written as httpx writes them), or ``""``."""
    if not params:
        return ""
    plain = {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in params.items()}
    return "?" + urlencode({k: "" if v is None else str(v) for k, v in plain.items()})


def _form_param(name: str, value: str) -> bytes:
    return f'{name}="{value.translate(_FORM_ESCAPES)}"'.encode()


def encode_body(
    json_body: Any = None,
    files: Mapping[str, tuple[str, bytes, str]] | None = None,
    form: Mapping[str, str] | None = None,
) -> tuple[bytes | None, str | None]:
    """A request's body and its content type: multipart (files, with the form's fields
    first, as httpx orders them), a url-encoded form, JSON, or nothing."""
    if files:
        boundary = os.urandom(16).hex()
        parts: list[bytes] = []
        for name, value in (form or {}).items():
            parts += [b"--", boundary.encode(), b"\r\nContent-Disposition: form-data; "]
            parts += [_form_param("name", name), b"\r\n\r\n", value.encode(), b"\r\n"]
        for name, (filename, data, media_type) in files.items():
            parts += [b"--", boundary.encode(), b"\r\nContent-Disposition: form-data; "]
            parts += [_form_param("name", name), b"; ", _form_param("filename", filename)]
            parts += [b"\r\nContent-Type: ", media_type.encode(), b"\r\n\r\n", data, b"\r\n"]
        parts += [b"--", boundary.encode(), b"--\r\n"]
        return b"".join(parts), f"multipart/form-data; boundary={boundary}"
    if form:
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    if json_body is not None:
        text = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode(), "application/json"
    return None, None


class UnixResponse:
    """One answer; its connection is closed once the body is read, or by :meth:`aclose`."""

    def __init__(
        self,
        status: int,
        headers: Headers,
        conn: _Connection,
        has_body: bool,
        on_close: Any = None,
    ) -> None:
        self.status_code = status
        self.headers = headers
        self._conn = conn
        self._has_body = has_body
        self._on_close = on_close
        self._content: bytes | None = None if has_body else b""
        self._consumed = not has_body

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError("the answer's body was not read (aread)")
        return self._content

    def json(self) -> Any:
        return json.loads(self.content)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives (once); the connection is closed at its end."""
        if self._consumed:
            if self._content is not None:
                yield self._content
                return
            raise RuntimeError("the answer's body was read already")
        self._consumed = True
        try:
            async for data in self._conn.body(self.headers):
                yield data
        finally:
            await self.aclose()

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines (split at LF or CRLF, without the line end), as they arrive."""
        rest = b""
        async for data in self.aiter_bytes():
            *lines, rest = (rest + data).split(b"\n")
            for line in lines:
                yield (line[:-1] if line.endswith(b"\r") else line).decode("utf-8", "replace")
        if rest:
            yield (rest[:-1] if rest.endswith(b"\r") else rest).decode("utf-8", "replace")

    async def aread(self) -> bytes:
        if self._content is None:
            self._content = b"".join([data async for data in self.aiter_bytes()])
        return self._content

    async def aclose(self) -> None:
        """Close the connection (mid-answer: the server sees the client go)."""
        if self._on_close is not None:
            self._on_close(self)
            self._on_close = None
        await self._conn.close()


class _Connection:
    """One request and its answer on a fresh connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.read_timeout: float | None = None
        self.closed = False

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.writer.close()
        try:
            await self.writer.wait_closed()  # the socket is closed before the loop may end
        except (OSError, RuntimeError):
            pass

    async def send(self, head: bytes, body: bytes | None, seconds: float) -> None:
        try:
            self.writer.write(head)
            if body:
                self.writer.write(body)
            async with asyncio.timeout(seconds):
                await self.writer.drain()
        except TimeoutError as exc:
            raise WriteTimeout("timed out sending the request") from exc
        except OSError as exc:
            raise WriteError(str(exc) or type(exc).__name__) from exc

    async def _read(self, step: Any) -> bytes:
        """One read of the answer under the read timeout, its failures as TransportErrors."""
        try:
            async with asyncio.timeout(self.read_timeout):
                return bytes(await step)
        except TimeoutError as exc:
            raise ReadTimeout("timed out waiting for the server's answer") from exc
        except asyncio.IncompleteReadError as exc:
            raise RemoteProtocolError(INCOMPLETE) from exc
        except (asyncio.LimitOverrunError, ValueError) as exc:  # a line longer than CHUNK
            raise RemoteProtocolError("a line of the answer is too long") from exc
        except OSError as exc:
            raise ReadError(str(exc) or type(exc).__name__) from exc

    async def head(self) -> tuple[int, Headers]:
        """The status and headers of the answer (interim 1xx answers skipped)."""
        while True:
            try:
                raw = await self._read(self.reader.readuntil(b"\r\n\r\n"))
            except RemoteProtocolError as exc:
                cause = exc.__cause__
                if isinstance(cause, asyncio.IncompleteReadError) and not cause.partial:
                    raise RemoteProtocolError(
                        "Server disconnected without sending a response."
                    ) from None
                raise
            status, headers = _parse_head(raw)
            if not 100 <= status < 200:
                return status, headers

    async def body(self, headers: Headers) -> AsyncIterator[bytes]:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            async for data in self._chunks():
                yield data
            return
        length = headers.get("content-length")
        if length is None:  # delimited by the end of the connection
            while data := await self._read(self.reader.read(CHUNK)):
                yield data
            return
        left = _int(length, 10)
        while left > 0:
            data = await self._read(self.reader.read(min(CHUNK, left)))
            if not data:
                raise RemoteProtocolError(f"{INCOMPLETE} ({left} bytes missing)")
            left -= len(data)
            yield data

    async def _chunks(self) -> AsyncIterator[bytes]:
        incomplete = f"{INCOMPLETE} (incomplete chunked read)"
        while True:
            line = await self._read(self.reader.readline())
            if not line.endswith(b"\n"):
                raise RemoteProtocolError(incomplete)
            size = _int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            try:
                data = await self._read(self.reader.readexactly(size))
                end = await self._read(self.reader.readline())
            except RemoteProtocolError:
                raise RemoteProtocolError(incomplete) from None
            if end.strip():
                raise RemoteProtocolError("a chunk of the answer is longer than it said")
            yield data
        while (line := await self._read(self.reader.readline())).strip():  # trailers
            pass


def _int(text: str | bytes, base: int) -> int:
    try:
        value = int(text, base)
    except ValueError:
        value = -1
    if value < 0:
        raise RemoteProtocolError(f"a malformed length in the answer: {text!r}")
    return value


def _parse_head(raw: bytes) -> tuple[int, Headers]:
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise RemoteProtocolError(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise RemoteProtocolError(f"a malformed header line in the answer: {line[:80]!r}")
        pairs.append((name, value.strip()))
    return int(code), Headers(pairs)


class UnixClient:
    """Requests to the HTTP server on the Unix socket at ``path`` (``host`` names it)."""

    def __init__(self, path: Path, host: str) -> None:
        self.path = path
        self.host = host
        #: Streamed answers not closed yet (closed with the client).
        self._open: set[UnixResponse] = set()

    async def send(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: Timeout,
        *,
        stream: bool = False,
    ) -> UnixResponse:
        """One request; the answer's body is read unless ``stream``."""
        lines = [f"{method} {target} HTTP/1.1", f"host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body or b'')}")
        lines.append("connection: close")
        if any(c in line for line in lines for c in _ILLEGAL) or " " in target:
            raise LocalProtocolError("a request header or the path holds a line break or a space")
        conn = await self._connect(timeout)
        try:
            await conn.send(("\r\n".join(lines) + "\r\n\r\n").encode(), body, timeout.seconds)
            conn.read_timeout = timeout.seconds if timeout.read is None else timeout.read
            status, answer = await conn.head()
            has_body = method != "HEAD" and status not in (204, 304)
            resp = UnixResponse(status, answer, conn, has_body, self._open.discard)
            self._open.add(resp)
            if not stream:
                await resp.aread()
        except BaseException:
            await conn.close()
            raise
        return resp

    async def _connect(self, timeout: Timeout) -> _Connection:
        seconds = timeout.seconds if timeout.connect is None else timeout.connect
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_unix_connection(self.path, limit=CHUNK)
        except TimeoutError as exc:
            raise ConnectTimeout(f"timed out connecting to {self.path}") from exc
        except OSError as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        """Close the answers still streaming (their connections)."""
        for resp in list(self._open):
            await resp.aclose()
