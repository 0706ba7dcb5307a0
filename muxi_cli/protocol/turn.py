"""The :class:`Turn`: the handle of one running turn, whatever runs it.

``await runtime.chat(request)`` returns a Turn once its ids are fixed: a local
runtime allocates the run and session ids before the turn starts; a remote
runtime returns after the server acknowledged the turn (its response headers
or the turn's first frame carry the ids). So ``run_id`` and ``session_id`` are
known before the first event is read, and nobody re-learns them from events.

The Turn is also the one place that knows which of its tool calls wait for an
approval (:class:`PendingApprovals`, fed from the events as they pass), so a
front end or a server answers ``approve`` on the turn itself.

This module is part of the ground floor (docs/architecture.md, section 1): it
imports nothing else of muxi but :mod:`muxi_cli.protocol`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from muxi_cli.protocol.events import (
    RUN_COMPLETED,
    RUN_FAILED,
    ElicitationRequested,
    ElicitationResolved,
    Event,
    ToolApproval,
)
from muxi_cli.protocol.records import ApprovalDecision

#: A pending tool call: (run id of its ``tool.approval`` event, call id). Providers
#: choose call ids and may repeat them (a delegate's run too), so the run id is
#: part of the key.
CallKey = tuple[str, str]


class PendingApprovals:
    """The tool calls of one turn that wait for a decision, seen from its events."""

    __slots__ = ("_inputs", "_keys")

    def __init__(self) -> None:
        self._keys: list[CallKey] = []
        #: Elicitations waiting for an answer: elicitation id -> run id.
        self._inputs: dict[str, str] = {}

    def observe(self, event: Event) -> None:
        if isinstance(event, ElicitationRequested) and event.pending:
            self._inputs[event.elicitation_id] = event.run_id
            return
        if isinstance(event, ElicitationResolved):
            self._inputs.pop(event.elicitation_id, None)
            return
        if not isinstance(event, ToolApproval) or not event.call_id:
            return
        key = (event.run_id, event.call_id)
        if event.decision == "pending":
            if key not in self._keys:
                self._keys.append(key)
        else:
            self.discard(key)

    def discard(self, key: CallKey) -> None:
        if key in self._keys:
            self._keys.remove(key)

    def clear(self) -> None:
        self._keys.clear()
        self._inputs.clear()

    def input_run(self, elicitation_id: str) -> str | None:
        """The run id of a waiting elicitation (None: not waiting in this turn)."""
        return self._inputs.get(elicitation_id)

    def inputs(self) -> list[str]:
        return list(self._inputs)

    def discard_input(self, elicitation_id: str) -> None:
        self._inputs.pop(elicitation_id, None)

    def match(self, call_id: str, run_id: str | None = None) -> list[CallKey]:
        """The pending calls named ``call_id`` (of run ``run_id`` when given)."""
        return [k for k in self._keys if k[1] == call_id and (run_id is None or k[0] == run_id)]

    def keys(self) -> list[CallKey]:
        return list(self._keys)


def is_terminal(event: Event) -> bool:
    """The event that ends a turn: its own ``run.completed`` or ``run.failed``."""
    return event.type in (RUN_COMPLETED, RUN_FAILED) and not event.nested


class Turn(ABC):
    """One running turn: its ids, its events, and the ways to steer it.

    - ``events()`` may be iterated once (a second call raises ``RuntimeError``);
      leaving it early cancels the turn, as :meth:`aclose` does.
    - :meth:`cancel` asks the turn to stop; the stream then ends with a
      ``run.failed`` event (code ``cancelled``) and what was said is kept.
    - :meth:`approve` answers a ``tool.approval`` event whose decision is
      ``pending``; ``run_id`` is needed only when two pending calls of this turn
      share a call id (a delegate's and its parent's).
    - :meth:`aclose` cancels a turn that has not ended and waits (bounded) until
      what was said is saved; it may be called any number of times.
    - ``async with`` closes the turn on the way out.
    """

    run_id: str
    session_id: str

    @abstractmethod
    def events(self) -> AsyncIterator[Event]: ...

    @abstractmethod
    async def cancel(self) -> None: ...

    @abstractmethod
    async def approve(
        self, call_id: str, decision: ApprovalDecision, run_id: str | None = None
    ) -> None: ...

    def inputs(self) -> list[str]:
        """The ids of the elicitations waiting for an answer."""
        return []

    async def answer_elicitation(
        self, elicitation_id: str, action: str, content: dict[str, Any] | None = None
    ) -> None:
        """Answer an ``elicitation.requested`` event whose ``pending`` is true:
        ``action`` ``accept`` (with ``content``, the requested fields),
        ``decline`` or ``cancel``."""
        raise NotImplementedError(f"{type(self).__name__} cannot answer elicitations")

    @abstractmethod
    async def aclose(self) -> None: ...

    @abstractmethod
    def pending(self) -> list[CallKey]:
        """The calls waiting for a decision, as ``(run id, call id)``."""

    @property
    @abstractmethod
    def finished(self) -> bool:
        """True once the turn's last event was produced (or it was closed)."""

    async def __aenter__(self) -> Turn:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
