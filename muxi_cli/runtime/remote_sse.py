"""A turn streamed over SSE (``POST /v1/chat``), resumed when its stream breaks.

The server numbers a turn's events (each SSE frame's ``id:``). When the
stream breaks before the turn's closing event (the connection drops, the
replica stops), :class:`SSETurn` asks ``GET /v1/runs/{id}/events`` with
``Last-Event-ID`` for the rest, a few times with backoff; behind a load
balancer another replica may answer from the shared event log. Events seen
already are skipped, so the reader sees each event once. A server that sends
no ids (an older muxi) is not asked: the turn ends with ``run.failed`` /
``connection_failed`` as before. Starting a turn is tried again while the
server answers that it is shutting down (behind a load balancer the next try
may reach another replica), and, when the start carries an idempotency key,
after it was lost before any answer (see :func:`start_with_retries`). A turn
that was closed is never resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from muxi_cli.errors import ConnectionFailedError, MuxiError, NotFoundError
from muxi_cli.protocol.events import Event, decode
from muxi_cli.protocol.records import ApprovalDecision
from muxi_cli.protocol.turn import is_terminal
from muxi_cli.runtime.client import never_connected
from muxi_cli.runtime.turns import StreamTurn, lost_event
from muxi_cli.runtime.wire import (
    RUN_HEADER,
    SESSION_HEADER,
    SSE_MEDIA,
    Response,
    Timeout,
    iter_sse_ids,
)

if TYPE_CHECKING:
    from muxi_cli.runtime.remote import RemoteRuntime

#: Tries to resume a broken stream, and the first wait between them (doubling, at most 4 s).
RESUME_ATTEMPTS = 6
RESUME_BACKOFF = 0.25
#: HTTP statuses worth another try: rate limited, or a proxy/replica not ready.
_RETRY_STATUS = frozenset({429, 502, 503, 504})
#: Tries again of a keyed turn start lost before any answer (:data:`LOST_START`).
START_RETRIES = 3
#: Error codes of a start that got no answer of muxi's own: no connection, the
#: connection dropped (or timed out) before the answer, a proxy's bare 502/503/504.
#: The server may have taken the start, so only a keyed start is sent again.
LOST_START = frozenset({"connection_failed", "bad_gateway", "unavailable", "gateway_timeout"})
#: The longest Retry-After of a ``turn_starting`` answer waited for (the clients' cap).
MAX_START_WAIT = 5.0


async def start_with_retries(
    send: Callable[[], Awaitable[Response]],
    attempts: int,
    *,
    keyed: bool = False,
    keeps_keys: Callable[[], bool] = lambda: False,
) -> Response:
    """Start a turn, again (with backoff) while the server answers that it is
    shutting down: the turn never started, and behind a load balancer the next
    try may reach another replica. A ``keyed`` start (``send`` repeats its
    idempotency key) is also tried again, :data:`START_RETRIES` times, when it
    was lost (:data:`LOST_START`): a server that had taken it attaches the
    repeat to that turn, so it still runs once. A server older than API 1.2
    ignores the key, so a start it may have read is sent again only when an
    earlier answer of it named 1.2 or later (``keeps_keys``) or when the
    connection was never made (nothing was sent). A keyed start whose first try
    the server still holds (409 ``turn_starting``) is sent again too, as often."""
    drains = lost = starting = 0
    while True:
        try:
            return await send()
        except MuxiError as exc:
            if exc.code == "shutting_down" and drains < attempts:
                drains, wait = drains + 1, drains
            elif keyed and exc.code == "turn_starting" and starting < START_RETRIES:
                # The server holds the start (its first try is still starting):
                # the same key attaches in a moment, when it asks (Retry-After).
                asked = getattr(exc, "retry_after", None)
                if asked is not None and asked > MAX_START_WAIT:
                    raise
                starting += 1
                await asyncio.sleep(RESUME_BACKOFF * 4 if asked is None else asked)
                continue
            elif (
                keyed
                and exc.code in LOST_START
                and lost < START_RETRIES
                and (never_connected(exc) or keeps_keys())
            ):
                lost, wait = lost + 1, lost
            else:
                raise
        await asyncio.sleep(min(RESUME_BACKOFF * 2**wait, 4.0))


def _q(value: str) -> str:
    return quote(str(value), safe="") or "-"


class SSETurn(StreamTurn):
    """A turn streamed over ``POST /v1/chat`` (SSE); cancel and approve are
    plain requests (``/v1/runs/{id}/cancel``, ``/v1/approvals/{call_id}``)."""

    def __init__(
        self,
        runtime: RemoteRuntime,
        resp: Response,
        session_id: str,
        attempts: int = RESUME_ATTEMPTS,
        backoff: float = RESUME_BACKOFF,
    ) -> None:
        super().__init__(resp.headers.get(RUN_HEADER, ""), session_id)
        self.session_id = resp.headers.get(SESSION_HEADER) or session_id
        self._rt = runtime
        self._resp = resp
        self._frames = iter_sse_ids(resp.aiter_lines())
        self._first: Event | None = None
        self._attempts = attempts
        self._backoff = backoff
        #: The last event id read (0: none yet); None once the server sent an event without one.
        self.last_id: int | None = 0
        #: How many times the stream was resumed.
        self.resumed = 0

    async def begin(self) -> None:
        """A server that sent no id headers: the first event carries the ids."""
        if self.run_id:
            return
        async for seq, data in self._frames:
            try:
                self._first = decode(data)
            except ValueError:
                continue
            self._seen(seq)
            self.run_id = self._first.run_id
            self.session_id = self._first.session_id or self.session_id
            return
        raise MuxiError("the server ended the turn without any event", hint="see the server's log")

    def _seen(self, seq: int | None) -> bool:
        """Note an event's id; False for one read already (a resumed stream's overlap)."""
        if seq is None or self.last_id is None:
            self.last_id = None  # no ids: this server cannot resume
            return True
        if seq <= self.last_id:
            return False
        self.last_id = seq
        return True

    async def _stream(self) -> AsyncIterator[Event]:
        ended = False
        first, self._first = self._first, None
        if first is not None:
            ended = is_terminal(first)
            yield first
        failures = 0
        lost: BaseException | None = None
        while not ended:
            try:
                async for seq, data in self._frames:
                    if not self._seen(seq):
                        continue
                    try:
                        event = decode(data)
                    except ValueError:
                        continue
                    failures = 0  # the stream moves again
                    ended = ended or is_terminal(event)
                    yield event
            except self._rt._server.errors as exc:
                lost = exc
            if ended:
                return
            if self.last_id is None or not self.run_id or failures >= self._attempts:
                break
            if failures == 0 and lost is not None:
                self._rt._notice(
                    f"the stream of a turn from {self._rt.label} broke ({lost}); resuming"
                )
            failures += 1
            await asyncio.sleep(min(self._backoff * 2 ** (failures - 1), 4.0))
            if self._closed:
                return  # closed while it waited: a resume now would follow a turn nobody reads
            try:
                resp = await self._reopen()
            except MuxiError as exc:
                if isinstance(exc, NotFoundError) or not (
                    isinstance(exc, ConnectionFailedError) or exc.http_status in _RETRY_STATUS
                ):
                    lost = exc
                    break
                continue
            if self._closed:  # closed while the resume was asked for
                await resp.aclose()
                return
            old, self._resp = self._resp, resp
            with contextlib.suppress(Exception):
                await old.aclose()
            self._frames = iter_sse_ids(resp.aiter_lines())
            self.resumed += 1
        if lost is not None:
            self._rt._notice(f"lost the connection to {self._rt.label} during a turn: {lost}")
        yield lost_event(self._rt.label, self.run_id, self.session_id)

    async def _reopen(self) -> Response:
        return await self._rt._server.stream(
            "GET",
            f"/v1/runs/{_q(self.run_id)}/events",
            headers={"accept": SSE_MEDIA, "last-event-id": str(self.last_id)},
            timeout=Timeout(self._rt._timeout, connect=10.0, read=120.0),
        )

    async def _cancel(self) -> None:
        with contextlib.suppress(NotFoundError):  # it ended meanwhile
            await self._rt._server.request("POST", f"/v1/runs/{_q(self.run_id)}/cancel")

    async def _answer(self, run_id: str, call_id: str, decision: ApprovalDecision) -> None:
        body = {"decision": decision, "run_id": run_id}
        await self._rt._server.request("POST", f"/v1/approvals/{_q(call_id)}", json_body=body)

    async def _answer_input(
        self, run_id: str, elicitation_id: str, action: str, content: dict[str, Any] | None
    ) -> None:
        body: dict[str, Any] = {"action": action}
        if content is not None:
            body["content"] = content
        path = f"/v1/elicitations/{_q(elicitation_id)}"
        await self._rt._server.request("POST", path, json_body=body)

    async def _close(self, unfinished: bool) -> None:
        if unfinished and self.run_id:
            # A dropped stream would keep the turn running for the server's
            # resume grace: leaving early is a cancel, said so at once.
            with contextlib.suppress(MuxiError):
                await self._rt._server.request(
                    "POST",
                    f"/v1/runs/{_q(self.run_id)}/cancel",
                    timeout=Timeout(5.0),
                )
        await self._resp.aclose()
