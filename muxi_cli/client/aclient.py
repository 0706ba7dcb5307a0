""":class:`AsyncClient`: the asyncio client of a ``muxi serve`` (docs/clients.md).

It is a thin face over what the CLI's remote runtime already does well
(:class:`~muxi_cli.runtime.remote.RemoteRuntime`): turns over SSE resumed
from their last event when the stream breaks, turns over one reused
WebSocket reopened with backoff, starting a turn again while a replica
answers ``shutting_down``. What it adds is the library's shape: keyword
arguments, JSON answers, a :class:`~muxi_cli.client.turn.ChatTurn` to iterate
or await, typed errors (:mod:`muxi_cli.client.errors`), retried GETs and the
API version check (:mod:`muxi_cli.client.transport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from muxi_cli.client.errors import ClientClosed, from_muxi
from muxi_cli.client.namespaces import Keys, Mcp, Media, Memory, Runs, Sessions
from muxi_cli.client.transport import RETRIES, Transport, check_version
from muxi_cli.client.turn import ChatTurn
from muxi_cli.errors import MuxiError
from muxi_cli.protocol.apiversion import HEADER
from muxi_cli.protocol.records import ApprovalMode, Attachment, ChatRequest
from muxi_cli.protocol.turn import Turn
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.runtime.remote_sse import SSETurn, start_with_retries
from muxi_cli.runtime.wire import (
    IDEMPOTENCY_HEADER,
    SSE_MEDIA,
    Response,
    Timeout,
    connection_error,
    turn_key,
)

log = logging.getLogger("muxi.client")

Transport_ = Literal["auto", "sse", "ws"]
#: What ``attachments`` may hold: a stored media id, ``media.upload``'s answer,
#: an :class:`Attachment`, or its dict (``name``, ``content``, ``mime``, ``media_id``).
AttachmentLike = str | dict[str, Any] | Attachment


def check_url(url: str) -> None:
    """Refuse a server URL no request could use, at once: not ``http(s)://host[:port]``
    (or ``unix:/path``). Without this, a bad scheme was retried as a connection
    failure and a malformed one raised the HTTP library's own error at the first call."""
    if url.startswith("unix:"):
        if len(url) > len("unix:"):
            return
    else:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - reading it validates it (ValueError)
        except ValueError:  # an unclosed IPv6 bracket, a port out of range
            parts = None
        if parts is not None and parts.scheme in ("http", "https") and parts.hostname:
            return
    raise ValueError(
        f"not a muxi server URL: {url!r} (expected http://host:port, https://..., or unix:/path)"
    )


def attachment(item: AttachmentLike) -> Attachment:
    """One attachment of a chat request, from any of :data:`AttachmentLike`."""
    if isinstance(item, Attachment):
        return item
    if isinstance(item, str):
        return Attachment(name=item, media_id=item, mime="application/octet-stream")
    if "media_id" not in item and "id" in item and "media_type" in item:  # a MediaRef
        return Attachment(
            name=str(item.get("name") or item["id"]),
            media_id=str(item["id"]),
            mime=str(item["media_type"]),
        )
    return Attachment.from_dict(dict(item))


class AsyncClient:
    """The muxi server at ``url``, used with the API key ``api_key``.

    ``user_id``: an admin key acts for that user (``x-muxi-user-id``).
    ``timeout``: seconds per request (a turn's stream waits longer between
    events). ``retries``: tries again of an idempotent request. ``on_notice``
    hears connection diagnostics ("reconnecting ...", default: the
    ``muxi.client`` logger). Open one client per event loop; ``async with``
    (or :meth:`aclose`) frees its connections.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None,
        user_id: str | None = None,
        timeout: float = 30.0,
        *,
        retries: int = RETRIES,
        verify: bool | str = True,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        check_url(url)
        self._rt = RemoteRuntime(
            url,
            api_key,
            label=url,
            timeout=timeout,
            on_notice=on_notice or (lambda msg: log.warning("%s", msg)),
        )
        # The runtime's HTTP client is the one every request goes through.
        server = self._rt._server
        server.verify = verify
        # Every request acts for this user: the turn's own follow-ups too
        # (approve, cancel, resume), and the WebSocket handshake.
        server.acting_user = user_id
        # Answers' versions are checked by the Transport (typed errors, no retry of them).
        server.check_versions = False
        # The server's API version is checked on each new WebSocket before a
        # frame is sent on it: a server of another major never receives a turn.
        self._rt._ws_turns.check_ready = self._check_ready
        self.url = self._rt.url
        self.user_id = user_id
        self.timeout = timeout
        self._t = Transport(server, user_id, retries)
        self.sessions = Sessions(self._t)
        self.memory = Memory(self._t)
        self.media = Media(self._t)
        self.keys = Keys(self._t)
        self.runs = Runs(self._t)
        self.mcp = Mcp(self._t)
        #: The turns started here, closed with the client if still running.
        self._turns: weakref.WeakSet[ChatTurn] = weakref.WeakSet()
        #: Turn starts waiting for the server; a close waits for them (see chat).
        self._starts = 0
        self._started: asyncio.Event | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the turns still running (an unfinished one is cancelled on the
        server) and the connections. The client cannot be used again: any later
        call raises :class:`~muxi_cli.client.errors.ClientClosed`. Again: nothing."""
        if self._t.closed:
            return
        self._t.closed = True
        server = self._rt._server
        if self._t.loop not in (None, asyncio.get_running_loop()):
            # Opened in a loop that is gone: nothing of them can be closed from here.
            server._client = server._unix = None
            self._rt._ws_turns.ws = None
        else:
            # A start the server is taking now becomes a turn to close with the
            # others (else it came back live after the close, never cancelled).
            while self._starts:
                self._started = asyncio.Event()
                try:
                    await asyncio.wait_for(self._started.wait(), self.timeout)
                except TimeoutError:
                    break  # its request then fails on the closed connections
            for turn in list(self._turns):
                with contextlib.suppress(Exception):
                    await turn._close_with_client()
            await self._rt.aclose()
        # A turn's own resume or cancel must not open a new pool either.
        server.refuse = ClientClosed

    # -- plain calls -------------------------------------------------------------------

    async def me(self) -> dict[str, Any]:
        """The key as the server sees it: ``key_id``, ``role``, ``user_id``, ``scopes``."""
        return dict(await self._t.json("GET", "/v1/me"))

    async def health(self) -> dict[str, Any]:
        """The server's state: version, agents, providers, stores."""
        return dict(await self._t.json("GET", "/v1/health"))

    async def agents(self) -> list[Any]:
        return list(await self._t.json("GET", "/v1/agents"))

    # -- turns -------------------------------------------------------------------------

    async def chat(
        self,
        message: str,
        agent: str | None = None,
        session_id: str | None = None,
        approval: ApprovalMode = "deny",
        attachments: Sequence[AttachmentLike] | None = None,
        model: str | None = None,
        system: str | None = None,
        title: str | None = None,
        transport: Transport_ = "auto",
        elicit: bool = False,
    ) -> ChatTurn:
        """Start a turn; returns once the server took it (``run_id`` and
        ``session_id`` are known). ``approval``: ``deny`` (tools that ask are
        refused), ``yes`` (allowed, if the key may), ``interactive`` (each one
        waits for :meth:`ChatTurn.approve`). ``transport``: ``auto`` is the
        WebSocket for interactive approval and SSE otherwise. ``elicit``: an MCP
        server's questions wait for :meth:`ChatTurn.answer_elicitation` even
        without interactive approval (they are declined otherwise)."""
        if transport not in ("auto", "sse", "ws"):
            raise ValueError(f"transport must be auto, sse or ws, not {transport!r}")
        self._t.enter()
        request = ChatRequest(
            message=message,
            agent=agent,
            session_id=session_id,
            user_id=self.user_id,
            attachments=[attachment(a) for a in attachments or ()],
            approval=approval,
            model=model,
            system=system,
            title=title,
            elicit=elicit,
        )
        ws = transport == "ws" or (transport == "auto" and approval == "interactive")
        self._starts += 1
        try:
            inner = await (self._chat_ws(request) if ws else self._chat_sse(request))
        finally:
            self._starts -= 1
            if self._started is not None:
                self._started.set()
        turn = ChatTurn(inner, "ws" if ws else "sse", self._t.check_open)
        self._turns.add(turn)
        if self._t.closed:  # closed meanwhile: its close waits for this one to go
            with contextlib.suppress(Exception):
                await turn._close_with_client()
            raise ClientClosed()
        return turn

    def _check_ready(self, ready: dict[str, Any]) -> None:
        version = ready.get("api_version")
        if isinstance(version, str):  # a 1.0 server names none
            check_version({HEADER: version}, self.url)

    async def _chat_ws(self, request: ChatRequest) -> Turn:
        body = self._rt._body(request)
        if request.user_id:
            body["user_id"] = request.user_id
        try:
            return await self._rt._ws_turns.chat(request, body)
        except MuxiError as exc:
            raise from_muxi(exc) from exc

    async def _chat_sse(self, request: ChatRequest) -> Turn:
        body = self._rt._body(request)
        key = turn_key()  # every try of this start sends it: the server runs the turn once
        resp = await start_with_retries(
            lambda: self._start_sse(body, key),
            self._rt.resume_attempts,
            keyed=True,
            keeps_keys=lambda: self._t.server.keeps_turn_keys,
        )
        try:
            turn = SSETurn(self._rt, resp, request.session_id or "", self._rt.resume_attempts)
            await turn.begin()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await resp.aclose()
            if isinstance(exc, MuxiError):
                raise from_muxi(exc) from exc
            if isinstance(exc, self._t.server.errors):
                raise from_muxi(connection_error(self._t.server.where, exc)) from exc
            raise
        return turn

    async def _start_sse(self, body: dict[str, Any], key: str) -> Response:
        # Not repeated by the transport: a POST that starts a turn is tried again
        # (start_with_retries) while the server says it is shutting down, or,
        # with its key, when it was lost before any answer of the server.
        return await self._t.send(
            "POST",
            "/v1/chat",
            stream=True,
            json_body=body,
            headers={"accept": SSE_MEDIA, IDEMPOTENCY_HEADER: key},
            timeout=Timeout(self.timeout, connect=10.0, read=120.0),
        )

    def __repr__(self) -> str:
        return f"AsyncClient({self.url!r})"
