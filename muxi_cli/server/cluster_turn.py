"""A turn whose waiting tool calls and questions the other replicas can find
(server/cluster.py), and a stream that tells the replica running a turn that it
follows it."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from muxi_cli.protocol.events import ElicitationRequested, ElicitationResolved, Event, ToolApproval
from muxi_cli.protocol.turn import Turn
from muxi_cli.server.cluster_wire import channel

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ApprovalDecision
    from muxi_cli.protocol.turn import CallKey
    from muxi_cli.server.cluster import Cluster
    from muxi_cli.stores.run_events import RunStream


class ObservedTurn(Turn):
    """A turn whose pending tool calls and elicitations are filed in
    ``pending_approvals`` and ``pending_elicitations`` as they appear, before the
    event goes on (a client answering through another replica finds them).
    Anything else is the inner turn's."""

    def __init__(self, inner: Turn, cluster: Cluster, user_id: str) -> None:
        self._inner = inner
        self._cluster = cluster
        self._user_id = user_id
        self.run_id = inner.run_id
        self.session_id = inner.session_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def events(self) -> AsyncIterator[Event]:
        inner = self._inner.events()
        try:
            async for event in inner:
                if isinstance(event, ToolApproval) and event.call_id:
                    await self._cluster.approval_seen(self.run_id, self._user_id, event)
                elif isinstance(event, ElicitationRequested | ElicitationResolved):
                    await self._cluster.elicitation_seen(self.run_id, self._user_id, event)
                yield event
        finally:  # leaving early closes the inner stream too (which cancels the turn)
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()

    async def cancel(self) -> None:
        await self._inner.cancel()

    async def approve(
        self, call_id: str, decision: ApprovalDecision, run_id: str | None = None
    ) -> None:
        await self._inner.approve(call_id, decision, run_id=run_id)

    def inputs(self) -> list[str]:
        return self._inner.inputs()

    async def answer_elicitation(
        self, elicitation_id: str, action: str, content: dict[str, Any] | None = None
    ) -> None:
        await self._inner.answer_elicitation(elicitation_id, action, content)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def pending(self) -> list[CallKey]:
        return self._inner.pending()

    @property
    def finished(self) -> bool:
        return self._inner.finished


async def followed(
    frames: AsyncIterator[tuple[int, str]], cluster: Cluster, run: RunStream, every: float
) -> AsyncIterator[tuple[int, str]]:
    """``frames`` of a run another replica runs, telling that replica every ``every``
    s that a stream follows it here: its resume grace starts over each time, so a
    client resumed through the balancer on this replica is not taken for gone there."""

    async def ping() -> None:
        while True:
            message = {"op": "follow", "run_id": run.run_id, "user_id": run.user_id}
            message |= {"id": secrets.token_hex(8), "from": cluster.replica_id}
            await cluster._quietly(
                "SELECT pg_notify(%s, %s)", (channel(run.replica), json.dumps(message))
            )
            await asyncio.sleep(every)

    task = asyncio.ensure_future(ping())
    try:
        async for item in frames:
            yield item
    finally:
        task.cancel()
