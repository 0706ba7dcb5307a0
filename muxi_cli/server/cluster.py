"""Replicas of ``muxi serve`` sharing one PostgreSQL database: who runs which turn.

Each replica (``rep_<hex>``, new per start) registers in ``replicas`` and
beats its ``heartbeat_at``; each turn it runs is a row of ``live_runs``, each
tool call of it waiting for a decision a row of ``pending_approvals`` and each
question of an MCP server waiting for the user's answer a row of
``pending_elicitations`` (written before the event reaches any client, so a
client that answers through another replica finds it).

A cancel, an approval or an elicitation's answer reaching a replica that does
not run the turn is checked against those rows (another user's turn is as
unknown as a missing one), then sent to the owner over ``NOTIFY`` on the
owner's channel (cluster_wire.py); the owner applies it to its turn as if it
had been asked directly and answers on the asker's channel, so the caller gets
the owner's answer (or its error). A stream following a turn from another
replica tells its owner so (``follow``, unanswered). No broker: the database
the replicas share carries the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from typing import TYPE_CHECKING, Any

from muxi_cli.core.approvals import the_one_call
from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.protocol.events import ElicitationRequested, ElicitationResolved, ToolApproval
from muxi_cli.server.cluster_turn import ObservedTurn
from muxi_cli.server.cluster_wire import ReplicaWire, channel
from muxi_cli.stores.pg_control import PgLink
from muxi_cli.stores.pg_recovery import ALIVE, reap_dead_replicas

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ApprovalDecision
    from muxi_cli.server.runs import Running, RunRegistry

log = logging.getLogger("muxi.server")

#: Seconds between two heartbeats of a replica (``MUXI_REPLICA_HEARTBEAT``: see
#: cluster_join.py); one that misses 4 in a row counts as gone (pg_recovery.py).
HEARTBEAT = 5.0
#: Seconds a replica waits for the owner of a turn to answer a cancel, an approval
#: or an elicitation's answer.
REPLY_TIMEOUT = 5.0


class Cluster(ReplicaWire):
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
        super().__init__(url, replica_id or f"rep_{secrets.token_hex(6)}", reply_timeout)
        self.registry = registry
        self.heartbeat = heartbeat
        #: The turns this replica runs, by run id (filed again if it was taken for gone).
        self._live: dict[str, Running] = {}
        self._link = PgLink(url)  # the recovery's (synchronous) statements

    # -- joining and leaving ---------------------------------------------------------

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

    async def leave(self) -> None:
        """Stop beating and listening; this replica's rows go."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self._exec("DELETE FROM live_runs WHERE replica_id = %s", (self.replica_id,))
            for table in ("pending_approvals", "pending_elicitations"):
                await self._exec(f"DELETE FROM {table} WHERE replica_id = %s", (self.replica_id,))
            await self._exec("DELETE FROM replicas WHERE id = %s", (self.replica_id,))
        for conn in (self._db, self._listen):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        await asyncio.to_thread(self._link.close)

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
        """File this replica's turns, waiting calls and questions again."""
        log.warning("replica %s was taken for gone; filing its turns again", self.replica_id)
        for running in list(self._live.values()):
            await self._file(running)
            for call_run, call_id in running.turn.pending():
                await self._quietly(
                    "INSERT INTO pending_approvals (call_id, run_id, turn_run_id, user_id, "
                    "replica_id) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (call_id, call_run, running.run_id, running.user_id, self.replica_id),
                )
            for elicitation_id in running.turn.inputs():
                await self._file_input(running.run_id, running.user_id, elicitation_id)

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

    async def started(self, running: Running) -> None:
        """A turn started here: watch its approvals and questions (at once, before anyone
        reads its events) and file it. Cancelled meanwhile, the filing still ends (the
        registry runs the turn on: a key may name it, a retry attaches)."""
        running.turn = ObservedTurn(running.turn, self, running.user_id)
        self._live[running.run_id] = running
        await asyncio.shield(self._file(running))

    async def alive(self, replica_id: str) -> bool:
        """Whether replica ``replica_id`` is registered and beating (a lost one is not)."""
        try:
            rows = await self._exec(
                f"SELECT 1 FROM replicas r WHERE r.id = %s AND {ALIVE}", (replica_id,)
            )
        except Exception as exc:  # unknown: it may be alive, so nothing is taken from it
            log.warning("replica %s: could not check %s: %s", self.replica_id, replica_id, exc)
            return True
        return bool(rows)

    async def _file(self, running: Running) -> None:
        await self._quietly(
            "INSERT INTO live_runs (run_id, replica_id, user_id, session_id) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (run_id) DO NOTHING",
            (running.run_id, self.replica_id, running.user_id, running.session_id),
        )

    async def finished(self, running: Running) -> None:
        self._live.pop(running.run_id, None)
        for table in ("pending_approvals", "pending_elicitations"):
            await self._quietly(f"DELETE FROM {table} WHERE turn_run_id = %s", (running.run_id,))
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

    async def elicitation_seen(
        self, turn_run_id: str, user_id: str, event: ElicitationRequested | ElicitationResolved
    ) -> None:
        if isinstance(event, ElicitationRequested):
            if event.pending:  # otherwise the policy answers at once
                await self._file_input(turn_run_id, user_id, event.elicitation_id)
        else:
            await self._quietly(
                "DELETE FROM pending_elicitations WHERE turn_run_id = %s AND elicitation_id = %s",
                (turn_run_id, event.elicitation_id),
            )

    async def _file_input(self, turn_run_id: str, user_id: str, elicitation_id: str) -> None:
        await self._quietly(
            "INSERT INTO pending_elicitations (elicitation_id, turn_run_id, user_id, "
            "replica_id) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (elicitation_id, turn_run_id, user_id, self.replica_id),
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

    async def answer_elicitation(
        self,
        elicitation_id: str,
        action: str,
        content: dict[str, Any] | None,
        user_id: str | None,
    ) -> str | None:
        """Pass an answer to the replica whose turn waits for ``elicitation_id``; the
        turn's run id, or None when no other replica has it for ``user_id``."""
        rows = await self._exec(
            "SELECT p.replica_id, p.turn_run_id FROM pending_elicitations p "
            "JOIN replicas r ON r.id = p.replica_id "
            f"WHERE p.elicitation_id = %s AND p.replica_id <> %s AND {ALIVE} "
            "AND (%s::text IS NULL OR p.user_id = %s) ORDER BY p.asked_at LIMIT 1",
            (elicitation_id, self.replica_id, user_id, user_id),
        )
        if not rows:
            return None
        replica, turn_run = str(rows[0][0]), str(rows[0][1])
        answer = await self._ask(
            replica,
            {
                "op": "elicit",
                "elicitation_id": elicitation_id,
                "action": action,
                "content": content,
                "user_id": user_id,
            },
        )
        return str(answer.get("run_id") or turn_run)

    def _told(self, message: dict[str, Any]) -> bool:
        if message.get("op") != "follow":
            return False
        # A stream on the sender follows this turn (no answer).
        with contextlib.suppress(MuxiError):
            self.registry.keep(str(message.get("run_id")), message.get("user_id"))
        return True

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
        if message.get("op") == "elicit":
            eid = str(message.get("elicitation_id"))
            running = self.registry.find_input(eid, user_id)
            await running.turn.answer_elicitation(
                eid, str(message.get("action")), message.get("content")
            )
            return {"run_id": running.run_id}
        raise NotFoundError(f"unknown request {message.get('op')!r}")
