"""A turn start runs once: idempotency keys of ``POST /v1/chat`` and the ``chat`` frame.

A client cannot tell a start the server never read from one whose answer was
lost with the connection; retrying either way, without a key, may run the
turn (and its tools) twice. So a client sends a fresh key with each start
(``Idempotency-Key`` header, ``idempotency_key`` beside the WebSocket frame's
``request``) and the same key on its own retry of that start.

:func:`start_keyed` claims the key for the request's user (stores/turn_keys.py,
shared by replicas on PostgreSQL) and starts the turn only if this claim won;
otherwise it answers the run the key already started (:class:`Existing`), which
the caller streams from its first event like a resumed run (its tape here, or
the event log: a turn another replica runs, or one that has ended). A key the
same user sent with another request is refused (422), as is a key whose run's
events are no longer kept (409). A start that fails gives its key back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from muxi_cli.errors import MuxiError, NotFoundError, UsageError

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.server.context import ServerContext
    from muxi_cli.server.runs import Running
    from muxi_cli.stores.turn_keys import Claim, TurnKeys

#: The header of ``POST /v1/chat`` and the field of the WebSocket ``chat`` frame.
HEADER = "Idempotency-Key"
FIELD = "idempotency_key"
MAX_KEY = 128
#: Seconds a repeat waits for the start that holds its key to record its run.
WAIT_START = 30.0
#: Seconds a repeat waits for its run to show in the event log (another replica's write).
WAIT_LOGGED = 5.0
POLL = 0.05


class KeyReused(MuxiError):
    code = "idempotency_key_reused"
    http_status = 422


class KeyConflict(MuxiError):
    code = "idempotency_conflict"
    http_status = 409


@dataclass(frozen=True, slots=True)
class Existing:
    """The run an earlier start with the same key started (here, elsewhere, or over)."""

    run_id: str


def check_key(value: object) -> str | None:
    """The key a client sent (None: none); a 400 for one that is not a short token."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_KEY
        or not all("!" <= c <= "~" for c in value)
    ):
        raise UsageError(
            f"the {HEADER} is 1 to {MAX_KEY} visible ASCII characters",
            hint="send a fresh random id (a UUID) per turn start",
        )
    return value


def key_store(ctx: ServerContext) -> TurnKeys:
    """The keys of the database the event log is in (made on first use)."""
    from muxi_cli.stores.turn_keys import TurnKeys  # deferred: only keyed starts use it

    registry = ctx.registry
    keys: TurnKeys | None = getattr(registry, "turn_keys", None)
    if keys is None:
        path = getattr(registry.log, "path", None)
        if path is None:
            from muxi_cli import paths  # deferred: only a server without an event log

            path = paths.sessions_db_path()
        keys = registry.turn_keys = TurnKeys(path)
    return keys


async def start_keyed(ctx: ServerContext, req: ChatRequest, key: str | None) -> Running | Existing:
    """Start ``req``'s turn, unless ``key`` already started one for its user."""
    from muxi_cli.stores.turn_keys import fingerprint  # deferred: only keyed starts use it

    registry = ctx.registry
    if key is None:
        return await registry.start(ctx.runtime, req)
    if registry.draining:  # refused before anything is claimed (the retry goes elsewhere)
        return await registry.start(ctx.runtime, req)
    assert req.user_id is not None
    keys = key_store(ctx)
    mine = fingerprint(req.to_dict())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_START
    claim: Claim | None = await _claim(keys, req.user_id, key, mine)
    while True:
        if claim is None:  # given back or stalled meanwhile: claim it now
            claim = await _claim(keys, req.user_id, key, mine)
        if claim.fingerprint != mine:
            raise KeyReused(
                f"this {HEADER} was sent with another request",
                hint="send a fresh key with each new turn; reuse it only to retry the same one",
            )
        if claim.won:
            break
        if claim.run_id is not None:
            return Existing(claim.run_id)
        if loop.time() > deadline:
            raise KeyConflict(
                f"the turn this {HEADER} names is still starting",
                hint="retry in a moment with the same key",
            )
        await asyncio.sleep(POLL)  # the start that won records its run in a moment
        # Read while waiting: a claim is a write transaction, and repeats polling
        # with claims took the database's write lock many times a second each.
        claim = await keys.holder(req.user_id, key)
    try:
        running = await registry.start(ctx.runtime, req)
    except BaseException:
        await asyncio.shield(keys.release(req.user_id, key, claim.token))
        raise
    try:
        await asyncio.shield(keys.started(req.user_id, key, claim.token, running.run_id))
    except asyncio.CancelledError:
        # The caller went (its WebSocket closed) before following the turn: it
        # gets the resume grace of a reader that left, or it ran on unfollowed.
        registry.detach(running)
        raise
    return running


async def _claim(keys: TurnKeys, user_id: str, key: str, print_: str) -> Claim:
    """Claim the key; a start cancelled meanwhile (its WebSocket closed) gives a
    won claim back, or the client's retry would wait for a start that never comes."""
    claiming = asyncio.ensure_future(keys.claim(user_id, key, print_))
    try:
        return await asyncio.shield(claiming)
    except asyncio.CancelledError:

        def give_back(done: asyncio.Future[Claim]) -> None:
            if not done.cancelled() and done.exception() is None and done.result().won:
                release = asyncio.ensure_future(keys.release(user_id, key, done.result().token))
                _background.add(release)
                release.add_done_callback(_background.discard)

        claiming.add_done_callback(give_back)
        raise


#: Releases of cancelled starts' claims, referenced until they are done.
_background: set[asyncio.Future[None]] = set()


async def wait_logged(ctx: ServerContext, run_id: str, user_id: str | None) -> None:
    """Wait until run ``run_id`` can be followed here: held by this process, or in
    the event log (another replica writes its start a moment after recording
    the key). A 409 if it never shows (its events were pruned)."""
    registry = ctx.registry
    log = registry.log
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LOGGED
    while registry.running(run_id, user_id) is None:
        if log is not None:
            await log.flush()
            info = await log.run(run_id)
            if info is not None:
                if user_id is not None and info.user_id != user_id:
                    raise NotFoundError(f"no running turn {run_id!r}")
                return
        if loop.time() > deadline:
            raise KeyConflict(
                f"this {HEADER} already started run {run_id}, whose events are no longer kept",
                hint="read the session's messages for what it said; send a fresh key to chat again",
            )
        await asyncio.sleep(POLL)
