"""Pending tool approvals: the turn waits on a future, ``Turn.approve`` resolves it.

Pending calls are keyed by run and call id: providers choose the call ids and
some repeat them (``call_0`` in every answer), so a call id alone can name the
calls of several turns, even of several users. :func:`check_decision` and
:func:`the_one_call` are the one check of a decision and the one "which
waiting call did you mean" rule, used by this broker, by every
:class:`~muxi_cli.protocol.turn.Turn` and by the server's run registry.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.protocol.records import APPROVAL_DECISIONS, ApprovalDecision
from muxi_cli.tools.mcp_input import ElicitAnswer, check_answer

Answer = ApprovalDecision
ANSWERS: tuple[str, ...] = APPROVAL_DECISIONS
Key = tuple[str, str]  # (run id, call id)

T = TypeVar("T")


def check_decision(decision: str) -> None:
    """Refuse a decision that is not one of :data:`ANSWERS`."""
    if decision not in ANSWERS:
        raise UsageError(
            f"unknown approval decision {decision!r}", hint=f"use one of: {', '.join(ANSWERS)}"
        )


def the_one_call(
    found: list[T],
    call_id: str,
    several: str,
    hint: str = "give the run id of the tool.approval event too",
) -> T:
    """The single waiting call among ``found`` (the calls named ``call_id``).

    None is a ``NotFoundError``; more than one is a ``UsageError`` whose message
    is ``several`` (who waits: this turn, several turns, several of yours) and
    whose hint says how to name the run.
    """
    if not found:
        raise NotFoundError(
            f"no tool call {call_id!r} is waiting for approval",
            hint="it may have been decided or its turn may have ended",
        )
    if len(found) > 1:
        raise UsageError(several, hint=hint)
    return found[0]


class ApprovalBroker:
    """Maps (run id, tool call id) to the future its turn is waiting on."""

    def __init__(self) -> None:
        self._pending: dict[Key, asyncio.Future[Answer]] = {}
        #: Elicitations (core/turn_input.py) by (run id, elicitation id), with their schema.
        self._inputs: dict[Key, tuple[asyncio.Future[ElicitAnswer], dict[str, Any]]] = {}

    def open(self, call_id: str, run_id: str = "") -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[(run_id, call_id)] = future
        return future

    def close(self, call_id: str, run_id: str = "") -> None:
        future = self._pending.pop((run_id, call_id), None)
        if future is not None and not future.done():
            future.cancel()

    def answer(self, call_id: str, decision: str, run_id: str | None = None) -> None:
        """Decide a pending call; without ``run_id`` the call id must be unambiguous."""
        check_decision(decision)
        waiting = [
            f
            for (run, call), f in self._pending.items()
            if call == call_id and (run_id is None or run == run_id) and not f.done()
        ]
        future = the_one_call(waiting, call_id, f"several turns wait for a tool call {call_id!r}")
        future.set_result(decision)  # type: ignore[arg-type]

    def open_input(
        self, elicitation_id: str, run_id: str, schema: dict[str, Any]
    ) -> asyncio.Future[ElicitAnswer]:
        future: asyncio.Future[ElicitAnswer] = asyncio.get_running_loop().create_future()
        self._inputs[(run_id, elicitation_id)] = (future, schema)
        return future

    def close_input(self, elicitation_id: str, run_id: str) -> None:
        entry = self._inputs.pop((run_id, elicitation_id), None)
        if entry is not None and not entry[0].done():
            entry[0].cancel()

    def answer_input(
        self,
        elicitation_id: str,
        action: str,
        content: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> None:
        """Answer a waiting elicitation; the content is checked against its schema."""
        waiting = [
            entry
            for (run, eid), entry in self._inputs.items()
            if eid == elicitation_id and (run_id is None or run == run_id) and not entry[0].done()
        ]
        if not waiting:
            raise NotFoundError(
                f"no elicitation {elicitation_id!r} is waiting for an answer",
                hint="it may have been answered or its turn may have ended",
            )
        future, schema = waiting[0]
        future.set_result(check_answer(action, content, schema))
