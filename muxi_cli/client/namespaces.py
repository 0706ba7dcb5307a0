"""The resource groups of :class:`~muxi_cli.client.AsyncClient`: sessions, memory, media, keys, runs, mcp.

Each method is one request of the HTTP API (docs/server.md) and returns its
JSON as plain dicts and lists, so the answer is what the OpenAPI document
(``docs/api/openapi.json``) describes. GETs are retried (see
:mod:`muxi_cli.client.transport`); nothing else is.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from muxi_cli.client.errors import ConnectionFailed
from muxi_cli.client.transport import Transport, backoff
from muxi_cli.protocol.events import Event, decode
from muxi_cli.protocol.turn import is_terminal
from muxi_cli.runtime.wire import SSE_MEDIA, Timeout, iter_sse_ids

#: A JSON array answer (an alias: the groups' ``list`` methods shadow the builtin).
Rows = list[Any]


def q(value: str) -> str:
    """A path segment, quoted (ids come from callers). ``.`` and ``..`` are
    escaped too: left as they are, the URL is resolved like a file path and
    ``memory.get(".")`` asks for ``/v1/memory`` (all of them)."""
    text = quote(str(value), safe="") or "-"
    return text.replace(".", "%2E") if text in (".", "..") else text


class _Group:
    def __init__(self, transport: Transport) -> None:
        self._t = transport


class Sessions(_Group):
    """The caller's conversations (``/v1/sessions``)."""

    async def list(self, query: str | None = None, limit: int | None = None) -> Rows:
        params = {"query": query, "limit": limit}
        return list(await self._t.json("GET", "/v1/sessions", params=params))

    async def get(self, session_id: str) -> dict[str, Any]:
        return dict(await self._t.json("GET", f"/v1/sessions/{q(session_id)}"))

    async def messages(self, session_id: str) -> Rows:
        return list(await self._t.json("GET", f"/v1/sessions/{q(session_id)}/messages"))

    async def rename(self, session_id: str, title: str) -> dict[str, Any]:
        path = f"/v1/sessions/{q(session_id)}"
        return dict(await self._t.json("PATCH", path, json_body={"title": title}))

    async def delete(self, session_id: str) -> None:
        await self._t.json("DELETE", f"/v1/sessions/{q(session_id)}")

    async def export(self, session_id: str, fmt: Literal["md", "json"] = "md") -> str:
        """The session as Markdown (``md``) or a JSON document (``json``), as text."""
        path = f"/v1/sessions/{q(session_id)}/export"
        data = await self._t.json("GET", path, params={"format": fmt})
        return str(data["content"])


class Memory(_Group):
    """What the agents remember about the caller (``/v1/memory``)."""

    async def list(self, kind: str | None = None, limit: int | None = None) -> Rows:
        params = {"kind": kind, "limit": limit}
        return list(await self._t.json("GET", "/v1/memory", params=params))

    async def search(self, q: str, kind: str | None = None, limit: int | None = None) -> Rows:
        params = {"q": q, "kind": kind, "limit": limit}
        return list(await self._t.json("GET", "/v1/memory/search", params=params))

    async def add(
        self, text: str, kind: str = "fact", replaces: Sequence[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text, "kind": kind}
        if replaces:
            body["replaces"] = [*replaces]  # only when given: an older server refuses the field
        return dict(await self._t.json("POST", "/v1/memory", json_body=body))

    async def get(self, memory_id: str) -> dict[str, Any]:
        return dict(await self._t.json("GET", f"/v1/memory/{q(memory_id)}"))

    async def forget(self, memory_id: str) -> None:
        await self._t.json("DELETE", f"/v1/memory/{q(memory_id)}")


class Media(_Group):
    """Files stored on the server (``/v1/media``), to attach to messages by id."""

    async def upload(
        self,
        data_or_path: bytes | str | Path,
        name: str | None = None,
        media_type: str | None = None,
    ) -> dict[str, Any]:
        """Store bytes, or a file (``str``/``Path``: read here; its name and a type
        guessed from it are sent unless given). The server decides the type from
        the content; the answer is the stored media's ``id``, ``media_type``,
        ``size``, ``name``. Attach it with ``chat(..., attachments=[ref])``."""
        if isinstance(data_or_path, bytes | bytearray | memoryview):
            data = bytes(data_or_path)
        else:
            path = Path(data_or_path)
            data = await asyncio.to_thread(path.read_bytes)
            name = name or path.name
            media_type = media_type or mimetypes.guess_type(path.name)[0]
        # An upload may take longer than a plain call: the write timeout follows the size.
        seconds = self._t.server.timeout + len(data) / (256 * 1024)
        answer = await self._t.json(
            "POST",
            "/v1/media",
            files={"file": (name or "upload", data, media_type or "application/octet-stream")},
            form={"media_type": media_type},
            timeout=Timeout(seconds, connect=10.0),
        )
        return dict(answer)

    async def info(self, media_id: str) -> dict[str, Any]:
        return dict(await self._t.json("GET", f"/v1/media/{q(media_id)}/info"))

    async def download(self, media_id: str) -> bytes:
        return await self._t.bytes("GET", f"/v1/media/{q(media_id)}")

    async def delete(self, media_id: str) -> None:
        await self._t.json("DELETE", f"/v1/media/{q(media_id)}")

    async def usage(self) -> dict[str, Any]:
        """How much the caller stores: ``used``, ``quota`` and ``max_upload`` (bytes)."""
        return dict(await self._t.json("GET", "/v1/media"))


class Keys(_Group):
    """The server's API keys (admin keys only; a user key gets :class:`Forbidden`)."""

    async def list(self) -> Rows:
        return list(await self._t.json("GET", "/v1/keys"))

    async def create(
        self,
        role: Literal["user", "admin"] = "user",
        user_id: str | None = None,
        scopes: Sequence[str] | None = None,
        label: str | None = None,
    ) -> dict[str, Any]:
        """A new key: its record plus ``key``, the secret (shown only here)."""
        body: dict[str, Any] = {"role": role}
        if user_id is not None:
            body["user_id"] = user_id
        if scopes is not None:
            body["scopes"] = [*scopes]
        if label is not None:
            body["label"] = label
        return dict(await self._t.json("POST", "/v1/keys", json_body=body))

    async def revoke(self, key_id: str) -> dict[str, Any]:
        return dict(await self._t.json("DELETE", f"/v1/keys/{q(key_id)}"))


#: Tries to go on with a run's events after the stream broke.
EVENTS_RESUME = 6


class Runs(_Group):
    """Turns by run id: cancel one, or (re)read its events."""

    async def cancel(self, run_id: str) -> None:
        await self._t.json("POST", f"/v1/runs/{q(run_id)}/cancel")

    async def events(self, run_id: str, after: int = 0) -> AsyncIterator[Event]:
        """The run's events after event number ``after`` (0: from the start),
        live until the run ends; a broken stream is resumed from the last one read."""
        last = after
        failures = 0
        while True:
            resp = await self._t.send(
                "GET",
                f"/v1/runs/{q(run_id)}/events",
                stream=True,
                headers={"accept": SSE_MEDIA, "last-event-id": str(last)},
                timeout=Timeout(self._t.server.timeout, connect=10.0, read=120.0),
            )
            try:
                async for seq, data in iter_sse_ids(resp.aiter_lines()):
                    if seq is not None:
                        if seq <= last:
                            continue
                        last = seq
                    try:
                        event = decode(data)
                    except ValueError:
                        continue
                    failures = 0
                    yield event
                    if is_terminal(event):
                        return
                return  # the server ended the stream: the run is over
            except self._t.server.errors as exc:
                if failures >= EVENTS_RESUME:
                    raise ConnectionFailed(
                        f"lost the event stream of run {run_id}",
                        status=0,
                        code="connection_failed",
                    ) from exc
            finally:
                with contextlib.suppress(Exception):
                    await resp.aclose()
            await asyncio.sleep(backoff(failures, None))
            failures += 1


class Mcp(_Group):
    """The caller's OAuth logins to the server's MCP servers (``/v1/mcp/servers/{name}/login``).

    A login runs on the server: :meth:`login` answers the address to open in a
    browser, which comes back to the server's own callback; :meth:`login_status`
    then says ``"signed in"``. A browser that cannot reach the server ends on an
    address that does not load: hand that address to :meth:`complete_login`.
    """

    async def servers(self) -> Rows:
        """The formation's MCP servers the key may use, each OAuth one with its
        ``auth`` for the caller (``oauth: signed in``, ``oauth: not signed in``...)."""
        return list(await self._t.json("GET", "/v1/mcp/servers"))

    async def login(self, name: str) -> str:
        """Start the caller's login to server ``name``: the authorization URL to open."""
        started = await self._t.json("POST", f"/v1/mcp/servers/{q(name)}/login")
        return str(started["authorization_url"])

    async def complete_login(self, name: str, redirect: str) -> dict[str, Any]:
        """The paste-back: finish the login with the address the browser ended on.
        Answers ``server``, ``login`` (``"signed in"`` or ``"failed: ..."``) and ``auth``;
        :class:`BadRequest` when no login of this key waits for that address."""
        path = f"/v1/mcp/servers/{q(name)}/login/complete"
        return dict(await self._t.json("POST", path, json_body={"redirect": redirect}))

    async def login_status(self, name: str) -> dict[str, Any]:
        """``auth`` (``oauth: signed in``, ``oauth: expired, will refresh``,
        ``oauth: not signed in``) and ``login`` (``"pending"``, ``"signed in"``,
        ``"failed: ..."`` or None: none started) for the caller."""
        return dict(await self._t.json("GET", f"/v1/mcp/servers/{q(name)}/login"))

    async def logout(self, name: str) -> bool:
        """Forget the caller's tokens for server ``name``; whether there were any."""
        done = await self._t.json("DELETE", f"/v1/mcp/servers/{q(name)}/login")
        return bool(done.get("removed"))
