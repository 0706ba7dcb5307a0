"""Replicas of ``muxi serve`` sharing one PostgreSQL database: who runs which turn.

Each replica (``rep_<hex>``, new per start) registers in ``replicas`` and
beats its ``heartbeat_at``; each turn it runs is a row of ``live_runs``, and
each tool call of it waiting for a decision a row of ``pending_approvals``
(written before the ``tool.approval`` event reaches any client, so a client
that answers through another replica finds it).

A cancel or an approval reaching a replica that does not run the turn is
checked against those rows (another user's turn is as unknown as a missing
one), then sent to the owner over ``NOTIFY`` on the owner's channel; the owner
applies it to its turn as if it had been asked directly and answers on the
asker's channel, so the caller gets the owner's answer (or its error). A stream
following a turn from another replica tells its owner so (``follow``, unanswered).
No broker: the database the replicas share carries the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from muxi_cli.core.approvals import the_one_call
from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.protocol.events import ToolApproval
from muxi_cli.server.cluster_turn import ObservedTurn
from muxi_cli.stores import pgconn
from muxi_cli.stores.pg_control import DatabaseUnavailable, PgLink, ReplicaUnreachable
from muxi_cli.stores.pg_recovery import ALIVE, reap_dead_replicas
from muxi_cli.stores.pgsql import clean_params

if TYPE_CHECKING:
    import psycopg

    from muxi_cli.protocol.records import ApprovalDecision
    from muxi_cli.server.runs import Running, RunRegistry

log = logging.getLogger("muxi.server")

#: Seconds between two heartbeats of a replica (``MUXI_REPLICA_HEARTBEAT``: see
#: cluster_join.py); one that misses 4 in a row counts as gone (pg_recovery.py).
HEARTBEAT = 5.0
#: Seconds a replica waits for the owner of a turn to answer a cancel or an approval.
REPLY_TIMEOUT = 5.0


def channel(replica_id: str) -> str:
    """The ``LISTEN`` channel of a replica (its id is ``rep_`` and hex: a safe identifier)."""
    return f"muxi_{replica_id}"


class Cluster:
    """This replica's membership: its rows, its heartbeat, its channel."""

    def __init__(
        self,
        url: str,
        registry: RunRegistry,
        *,
        replica_id: str | None = None,
        heartbeat: float = HEARTBEAT,
        reply_timeout: float = REPLY_TIMEOUT,
    ) -> None:
        self.url = url
        self.registry = registry
        self.replica_id = replica_id or f"rep_{secrets.token_hex(6)}"
        self.heartbeat = heartbeat
        self.reply_timeout = reply_timeout
        self._db: psycopg.AsyncConnection[Any] | None = None
        self._listen: psycopg.AsyncConnection[Any] | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: Ids of the requests this replica answered lately (a resent one is not applied twice).
        self._seen: OrderedDict[Any, None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: True while this replica hears the others (``/ready`` may report it).
        self.listening = False
        #: The turns this replica runs, by run id (filed again if it was taken for gone).
        self._live: dict[str, Running] = {}
        self._link = PgLink(url)  # the recovery's (synchronous) statements

    # -- joining and leaving ---------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg  # deferred: the postgres part, only replicas sharing a database load it

        try:
            return await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=10
            )
        except psycopg.Error as exc:
            raise DatabaseUnavailable(
                f"could not connect to the database {pgconn.redacted(self.url)}: "
                f"{str(exc).strip()}",
                hint=f"check {pgconn.URL_ENV} (or --database-url) and that the server is up",
            ) from exc

    async def join(self) -> None:
        """Migrate the control tables, register, listen, and start beating."""
        try:
            await asyncio.to_thread(self._link.execute, "SELECT 1")  # opening it migrates
            self._db = await self._connect()
            self._listen = await self._connect()
            await self._listen.execute(f'LISTEN "{channel(self.replica_id)}"')
            self.listening = True
            await self._exec(
                "INSERT INTO replicas (id, host, beat_s) VALUES (%s, %s, %s)",
                (self.replica_id, socket.gethostname(), self.heartbeat),
            )
        except BaseException:
            await self.leave()  # nothing half-open
            raise
        self._spawn(self._listener())
        await self._reap()  # replicas that died while none was running
        self._spawn(self._beat())

    def _spawn(self, coro: Any) -> None:
        self._tasks.add(task := asyncio.ensure_future(coro))
        task.add_done_callback(self._tasks.discard)

    async def leave(self) -> None:
        """Stop beating and listening; this replica's rows go."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self._exec("DELETE FROM live_runs WHERE replica_id = %s", (self.replica_id,))
            await self._exec(
                "DELETE FROM pending_approvals WHERE replica_id = %s", (self.replica_id,)
            )
            await self._exec("DELETE FROM replicas WHERE id = %s", (self.replica_id,))
        for conn in (self._db, self._listen):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        await asyncio.to_thread(self._link.close)

    async def _exec(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """One statement on the command connection (reopened once if it broke)."""
        import psycopg  # deferred: as in _connect

        for attempt in (1, 2):
            if self._db is None or self._db.closed or self._db.broken:
                self._db = await self._connect()
            try:
                cur = await self._db.execute(sql, clean_params(params))  # NUL: no id
                return await cur.fetchall() if cur.description is not None else []
            except psycopg.OperationalError as exc:
                # A statement that timed out is not retried; a lost connection is, once.
                if attempt == 2 or isinstance(exc, psycopg.errors.QueryCanceled):
                    text = f"the shared database did not answer: {str(exc).strip()}"
                    raise DatabaseUnavailable(text, hint="retry in a moment") from exc
                with contextlib.suppress(Exception):
                    await self._db.close()
                self._db = None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _quietly(self, sql: str, params: Any = ()) -> None:
        """Bookkeeping that must not fail a turn: a database error is logged."""
        try:
            await self._exec(sql, params)
        except Exception as exc:
            log.warning("replica %s: %s", self.replica_id, str(exc).strip())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                rows = await self._exec(
                    "INSERT INTO replicas (id, host, beat_s) VALUES (%s, %s, %s) "
                    "ON CONFLICT (id) DO UPDATE SET heartbeat_at = now() RETURNING (xmax = 0)",
                    (self.replica_id, socket.gethostname(), self.heartbeat),
                )
            except Exception as exc:
                log.warning("replica %s: no heartbeat: %s", self.replica_id, str(exc).strip())
                continue
            if rows and rows[0][0]:
                await self._refile()  # taken for gone (a long pause) and reaped: back again
            await self._reap()

    async def _refile(self) -> None:
        """File this replica's turns and waiting calls again."""
        log.warning("replica %s was taken for gone; filing its turns again", self.replica_id)
        for running in list(self._live.values()):
            await self._file(running)
            for call_run, call_id in running.turn.pending():
                await self._quietly(
                    "INSERT INTO pending_approvals (call_id, run_id, turn_run_id, user_id, "
                    "replica_id) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (call_id, call_run, running.run_id, running.user_id, self.replica_id),
                )

    async def _reap(self) -> None:
        """Fail the turns of replicas that stopped beating (pg_recovery.py)."""
        try:
            lost = await asyncio.to_thread(reap_dead_replicas, self._link, self.replica_id)
        except Exception as exc:
            log.warning("replica %s: could not check the others: %s", self.replica_id, exc)
            return
        if lost:
            log.warning(
                "replica %s: %d turn(s) of a lost replica failed, their partial replies kept",
                self.replica_id,
                len(lost),
            )

    # -- the registry's hooks --------------------------------------------------------

    async def started(self, running: Running, finish: Callable[[Running], Awaitable[None]]) -> None:
        """A turn started here: watch its approvals (at once, before anyone reads
        its events) and file it. Cancelled meanwhile, nobody will read the turn:
        ``finish`` closes it."""
        running.turn = ObservedTurn(running.turn, self, running.user_id)
        self._live[running.run_id] = running
        try:
            await asyncio.shield(self._file(running))
        except asyncio.CancelledError:
            self._spawn(finish(running))
            raise

    async def _file(self, running: Running) -> None:
        await self._quietly(
            "INSERT INTO live_runs (run_id, replica_id, user_id, session_id) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (run_id) DO NOTHING",
            (running.run_id, self.replica_id, running.user_id, running.session_id),
        )

    async def finished(self, running: Running) -> None:
        self._live.pop(running.run_id, None)
        await self._quietly(
            "DELETE FROM pending_approvals WHERE turn_run_id = %s", (running.run_id,)
        )
        await self._quietly("DELETE FROM live_runs WHERE run_id = %s", (running.run_id,))

    async def approval_seen(self, turn_run_id: str, user_id: str, event: ToolApproval) -> None:
        if event.decision == "pending":
            await self._quietly(
                "INSERT INTO pending_approvals (call_id, run_id, turn_run_id, user_id, "
                "replica_id) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (event.call_id, event.run_id, turn_run_id, user_id, self.replica_id),
            )
        else:
            await self._quietly(
                "DELETE FROM pending_approvals WHERE run_id = %s AND call_id = %s",
                (event.run_id, event.call_id),
            )

    # -- asking the owner ------------------------------------------------------------

    async def cancel(self, run_id: str, user_id: str | None) -> bool:
        """Cancel ``run_id`` on the replica running it; False when no other replica
        runs it for ``user_id`` (None = any: admins)."""
        rows = await self._exec(
            "SELECT l.replica_id FROM live_runs l JOIN replicas r ON r.id = l.replica_id "
            f"WHERE l.run_id = %s AND l.replica_id <> %s AND {ALIVE} "
            "AND (%s::text IS NULL OR l.user_id = %s)",
            (run_id, self.replica_id, user_id, user_id),
        )
        if not rows:
            return False
        await self._ask(str(rows[0][0]), {"op": "cancel", "run_id": run_id, "user_id": user_id})
        return True

    async def approve(
        self,
        call_id: str,
        decision: ApprovalDecision,
        user_id: str | None,
        run_id: str | None = None,
    ) -> str | None:
        """Pass a decision to the replica whose turn waits for ``call_id``; the
        call's run id, or None when no other replica has it for ``user_id``."""
        rows = await self._exec(
            "SELECT p.replica_id, p.run_id FROM pending_approvals p "
            "JOIN replicas r ON r.id = p.replica_id "
            f"WHERE p.call_id = %s AND p.replica_id <> %s AND {ALIVE} "
            "AND (%s::text IS NULL OR p.user_id = %s) "
            "AND (%s::text IS NULL OR p.run_id = %s OR p.turn_run_id = %s)",
            (call_id, self.replica_id, user_id, user_id, run_id, run_id, run_id),
        )
        if not rows:
            return None
        replica, call_run = the_one_call(
            [(str(r[0]), str(r[1])) for r in rows],
            call_id,
            f"several of your turns wait for a tool call {call_id!r}",
            hint="send the run_id of its tool.approval event too",
        )
        answer = await self._ask(
            replica,
            {
                "op": "approve",
                "call_id": call_id,
                "decision": decision,
                "user_id": user_id,
                "run_id": call_run,
            },
        )
        return str(answer.get("run_id") or call_run)

    async def _ask(self, replica: str, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` to ``replica``; its answer, or its error raised here."""
        message = {**message, "id": secrets.token_hex(8), "from": self.replica_id}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message["id"]] = future
        payload = json.dumps(message)
        try:
            # Sent twice if need be (a replica reconnecting its listener misses what
            # comes meanwhile); the owner applies one message id once.
            for attempt in (1, 2):
                await self._exec("SELECT pg_notify(%s, %s)", (channel(replica), payload))
                try:
                    answer = await asyncio.wait_for(asyncio.shield(future), self.reply_timeout / 2)
                    break
                except TimeoutError:
                    if attempt == 2:
                        raise ReplicaUnreachable(
                            "the server replica running this turn did not answer",
                            hint="try again in a moment; the turn may have ended with its replica",
                        ) from None
        finally:
            self._waiting.pop(message["id"], None)
        if not answer.get("ok"):
            raise MuxiError.from_dict(answer.get("error") or {})
        return answer

    async def _listener(self) -> None:
        """Hear the others' requests and answers (the answering side)."""
        pause = 0.2
        while True:
            try:
                assert self._listen is not None
                async for note in self._listen.notifies():
                    self._spawn(self._handle(note.payload))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection dropped: listen again, backing off
                if self.listening:
                    log.warning("replica %s stopped listening: %s", self.replica_id, exc)
                self.listening = False
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                with contextlib.suppress(Exception):
                    self._listen = await self._connect()
                    await self._listen.execute(f'LISTEN "{channel(self.replica_id)}"')
                    self.listening, pause = True, 0.2
                    log.warning("replica %s listens again", self.replica_id)

    async def _handle(self, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        op, future = message.get("op"), self._waiting.get(str(message.get("id")))
        if op == "reply" and future is not None and not future.done():
            future.set_result(message)
        if op == "follow":  # a stream on the sender follows this turn (no answer)
            with contextlib.suppress(MuxiError):
                self.registry.keep(str(message.get("run_id")), message.get("user_id"))
        if op in ("reply", "follow"):
            return
        if message.get("id") in self._seen:
            return  # sent again while the first was on its way: answered once
        self._seen[message.get("id")] = None
        while len(self._seen) > 1000:
            self._seen.popitem(last=False)
        answer: dict[str, Any] = {"op": "reply", "id": message.get("id"), "ok": True}
        try:
            answer.update(await self._apply(message))
        except MuxiError as exc:
            answer = {**answer, "ok": False, "error": exc.to_dict()}
        except Exception as exc:
            log.exception("replica %s: %s failed", self.replica_id, message.get("op"))
            oops = MuxiError(f"the server replica running this turn failed: {type(exc).__name__}")
            answer = {**answer, "ok": False, "error": oops.to_dict()}
        await self._quietly(
            "SELECT pg_notify(%s, %s)", (channel(str(message.get("from"))), json.dumps(answer))
        )

    async def _apply(self, message: dict[str, Any]) -> dict[str, Any]:
        """Do what another replica was asked, on this replica's own turn."""
        user_id = message.get("user_id")
        if message.get("op") == "cancel":
            await self.registry.find_run(str(message.get("run_id")), user_id).turn.cancel()
            return {"run_id": message.get("run_id")}
        if message.get("op") == "approve":
            call_id = str(message.get("call_id"))
            running, key = self.registry.find_call(call_id, user_id, message.get("run_id"))
            await running.turn.approve(call_id, message["decision"], run_id=key[0])
            return {"run_id": key[0]}
        raise NotFoundError(f"unknown request {message.get('op')!r}")
