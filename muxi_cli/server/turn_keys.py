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

A claim names the server process holding it (its boot id, the replica id on
PostgreSQL). A repeat finding a claim still without a run waits while that
holder is alive (bounded, then 409 ``turn_starting``: retry) and takes the claim
over only once the holder is gone: another boot of a server alone, a replica
the cluster no longer sees beating. A timer could not tell a dead start from a
slow one (a long warm-up, a database stall), so it let a repeat start a second turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError, NotFoundError, UsageError

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.server.context import ServerContext
    from muxi_cli.server.runs import Running
    from muxi_cli.stores.turn_keys import Claim, TurnKeys

log = logging.getLogger("muxi.server")

#: The header of ``POST /v1/chat`` and the field of the WebSocket ``chat`` frame.
HEADER = "Idempotency-Key"
FIELD = "idempotency_key"
MAX_KEY = 128
#: Seconds a repeat waits for the start that holds its key to record its run.
WAIT_START = 30.0
#: Seconds a repeat waits for its run to show in the event log (another replica's write).
WAIT_LOGGED = 5.0
POLL = 0.05
#: Seconds between two checks that the holder of a key a repeat waits for is still there.
CHECK_HOLDER = 1.0
#: Times a failed record of a key's run is tried again (backing off to 10 s apart).
RECORD_TRIES = 30


class KeyReused(MuxiError):
    code = "idempotency_key_reused"
    http_status = 422


class KeyConflict(MuxiError):
    code = "idempotency_conflict"
    http_status = 409


class TurnStarting(MuxiError):
    """A repeat of a start still starting on a live holder: the same key works in a
    moment (``Retry-After``), unlike :class:`KeyConflict`, where retrying is futile."""

    code = "turn_starting"
    http_status = 409
    retry_after = 1.0


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
        keys = registry.turn_keys = TurnKeys(path, claimant=registry.replica)
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
    user = req.user_id
    keys = key_store(ctx)
    mine = fingerprint(req.to_dict())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_START
    checked: dict[str, float] = {}  # holder -> when it was last found alive
    claim: Claim | None = await _claim(keys, user, key, mine)
    while True:
        if claim is None:  # given back meanwhile: claim it now
            claim = await _claim(keys, user, key, mine)
        if claim.fingerprint != mine:
            raise KeyReused(
                f"this {HEADER} was sent with another request",
                hint="send a fresh key with each new turn; reuse it only to retry the same one",
            )
        if claim.won:
            break
        run_id = claim.run_id or keys.began.get(claim.token)
        if run_id is not None:
            return Existing(run_id)
        if loop.time() - checked.get(claim.holder, -CHECK_HOLDER) >= CHECK_HOLDER:
            if await holder_gone(ctx, claim.holder):
                # Its server died (or restarted) before the turn began: no turn runs.
                claim = await keys.take_over(user, key, claim.token, mine)
                continue
            checked[claim.holder] = loop.time()
        if loop.time() > deadline:
            raise TurnStarting(
                f"the turn this {HEADER} names is still starting",
                hint="retry in a moment with the same key",
            )
        await asyncio.sleep(POLL)  # the start that won records its run in a moment
        # Read while waiting: a claim is a write transaction, and repeats polling
        # with claims took the database's write lock many times a second each.
        claim = await keys.holder(user, key)
    token = claim.token
    begun: list[Running] = []
    try:
        running = await registry.start(ctx.runtime, req, began=begun.append)
    except BaseException:
        if not begun:
            await asyncio.shield(keys.release(user, key, token))
            raise
        # Cancelled after its turn began (a replica filing it): the registry gave the
        # turn its pump and the resume grace; the key keeps it, so a retry attaches.
        await asyncio.shield(_record(keys, user, key, token, begun[0].run_id))
        raise
    try:
        await asyncio.shield(_record(keys, user, key, token, running.run_id))
    except asyncio.CancelledError:
        # The caller went (its WebSocket closed) before following the turn: it
        # gets the resume grace of a reader that left, or it ran on unfollowed.
        registry.detach(running)
        raise
    return running


async def holder_gone(ctx: ServerContext, holder: str) -> bool:
    """Whether the server process that claimed a key is gone: another boot of a
    server alone, or a replica the cluster does not see beating any more."""
    registry = ctx.registry
    if holder == registry.replica:
        return False  # this process: its start is under way (it releases what fails)
    if registry.cluster is None:
        return True
    return not await registry.cluster.alive(holder)


async def _record(keys: TurnKeys, user_id: str, key: str, token: str, run_id: str) -> None:
    """The key's claim started ``run_id``. Repeats reaching this process see it at
    once; if the database refuses the write, it is tried again in the background
    (meanwhile other replicas' repeats wait for it, then get a 409 to retry)."""
    keys.began[token] = run_id
    try:
        await keys.started(user_id, key, token, run_id)
    except Exception as exc:
        log.warning("turn key of run %s not recorded yet: %s", run_id, exc)
        _spawn(_record_later(keys, user_id, key, token, run_id))
    else:
        keys.began.pop(token, None)


async def _record_later(keys: TurnKeys, user_id: str, key: str, token: str, run_id: str) -> None:
    wait = 0.5
    for _ in range(RECORD_TRIES):
        await asyncio.sleep(wait)
        wait = min(wait * 2, 10.0)
        with contextlib.suppress(Exception):
            await keys.started(user_id, key, token, run_id)
            keys.began.pop(token, None)
            return
    log.error("turn key of run %s was never recorded; a retry may wait for it", run_id)


def _spawn(coro: Any) -> None:
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _claim(keys: TurnKeys, user_id: str, key: str, print_: str) -> Claim:
    """Claim the key; a start cancelled meanwhile (its WebSocket closed) gives a
    won claim back, or the client's retry would wait for a start that never comes."""
    claiming = asyncio.ensure_future(keys.claim(user_id, key, print_))
    try:
        return await asyncio.shield(claiming)
    except asyncio.CancelledError:

        def give_back(done: asyncio.Future[Claim]) -> None:
            if not done.cancelled() and done.exception() is None and done.result().won:
                _spawn(keys.release(user_id, key, done.result().token))

        claiming.add_done_callback(give_back)
        raise


#: Releases of cancelled starts' claims and late records, referenced until they are done.
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
