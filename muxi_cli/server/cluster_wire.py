"""The wire between replicas sharing one PostgreSQL database (server/cluster.py):
a replica's connections to it, and its messages to the others.

A message is JSON sent with ``NOTIFY`` on the receiver's channel; a request
is answered by a ``reply`` with its id on the sender's channel. ``NOTIFY``
carries less than 8000 bytes, so a longer message (an elicitation's answer may
be as long as a request body, an error may quote it) is stored in
``cluster_messages`` and only its key travels; the receiver takes it out of the
table. A row nobody took (its receiver was gone) is deleted after a minute by
the replicas' reaping (stores/pg_recovery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError
from muxi_cli.stores import pgconn
from muxi_cli.stores.pg_control import DatabaseUnavailable, ReplicaUnreachable
from muxi_cli.stores.pgsql import clean_params

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("muxi.server")

#: The longest payload sent inline (PostgreSQL refuses 8000 bytes and more).
NOTIFY_MAX = 7000


def channel(replica_id: str) -> str:
    """The ``LISTEN`` channel of a replica (its id is ``rep_`` and hex: a safe identifier)."""
    return f"muxi_{replica_id}"


class ReplicaWire:
    """A replica's connections (commands, listening) and its messages; what a
    request asks is the subclass's :meth:`_apply`."""

    def __init__(self, url: str, replica_id: str, reply_timeout: float) -> None:
        self.url = url
        self.replica_id = replica_id
        self.reply_timeout = reply_timeout
        self._db: psycopg.AsyncConnection[Any] | None = None
        self._listen: psycopg.AsyncConnection[Any] | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: Ids of the requests this replica answered lately (a resent one is not applied twice).
        self._seen: OrderedDict[Any, None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: True while this replica hears the others (``/ready`` may report it).
        self.listening = False

    # -- what the subclass does with a message ---------------------------------------

    async def _apply(self, message: dict[str, Any]) -> dict[str, Any]:
        """Do what another replica asked; the fields of the reply."""
        raise NotImplementedError

    def _told(self, message: dict[str, Any]) -> bool:
        """Take a message that wants no answer; False: it is a request."""
        return False

    # -- the database ----------------------------------------------------------------

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

    def _spawn(self, coro: Any) -> None:
        self._tasks.add(task := asyncio.ensure_future(coro))
        task.add_done_callback(self._tasks.discard)

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

    # -- sending ---------------------------------------------------------------------

    async def _packed(self, message: dict[str, Any]) -> str:
        """The payload that carries ``message``: itself, or the key it is stored under."""
        payload = json.dumps(message)  # ASCII: its length is its size in bytes
        if len(payload) <= NOTIFY_MAX:
            return payload
        key = f"msg_{secrets.token_hex(12)}"
        await self._exec("INSERT INTO cluster_messages (id, body) VALUES (%s, %s)", (key, payload))
        return json.dumps({"stored": key})

    async def _ask(self, replica: str, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` to ``replica``; its answer, or its error raised here."""
        message = {**message, "id": secrets.token_hex(8), "from": self.replica_id}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message["id"]] = future
        try:
            payload = await self._packed(message)
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

    # -- hearing ---------------------------------------------------------------------

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

    async def _unpacked(self, payload: str) -> dict[str, Any] | None:
        """The message a payload carries (None: unreadable, or a stored one taken already)."""
        try:
            message = json.loads(payload)
            if isinstance(message, dict) and set(message) == {"stored"}:
                rows = await self._exec(
                    "DELETE FROM cluster_messages WHERE id = %s RETURNING body",
                    (str(message["stored"]),),
                )
                # Not there: the first of a message sent twice took it.
                message = json.loads(rows[0][0]) if rows else None
        except Exception as exc:  # unreadable, or the database failed: logged, not raised
            log.warning("replica %s: a message was lost: %s", self.replica_id, exc)
            return None
        return message if isinstance(message, dict) else None

    async def _handle(self, payload: str) -> None:
        message = await self._unpacked(payload)
        if message is None:
            return
        op, future = message.get("op"), self._waiting.get(str(message.get("id")))
        if op == "reply":
            if future is not None and not future.done():
                future.set_result(message)
            return
        if self._told(message) or message.get("id") in self._seen:
            return  # wants no answer, or sent again while the first was on its way
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
        try:
            reply = await self._packed(answer)
        except MuxiError as exc:
            log.warning("replica %s: no reply sent: %s", self.replica_id, exc)
            return
        await self._quietly("SELECT pg_notify(%s, %s)", (channel(str(message.get("from"))), reply))
