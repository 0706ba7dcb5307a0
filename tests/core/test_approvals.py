"""Pending approvals are keyed by run and call: providers may repeat call ids."""

from __future__ import annotations

import pytest

from muxi_cli.core.approvals import ApprovalBroker
from muxi_cli.errors import NotFoundError, UsageError


async def test_the_same_call_id_in_two_runs_stays_two_calls() -> None:
    broker = ApprovalBroker()
    alice = broker.open("call_0", "run_a")
    bob = broker.open("call_0", "run_b")
    with pytest.raises(UsageError, match="several turns"):
        broker.answer("call_0", "allow")  # ambiguous without the run id
    broker.answer("call_0", "deny", "run_b")
    assert bob.result() == "deny" and not alice.done()
    broker.answer("call_0", "allow")  # now unambiguous
    assert alice.result() == "allow"
    with pytest.raises(NotFoundError):
        broker.answer("call_0", "allow", "run_a")
    broker.close("call_0", "run_a")
    broker.close("call_0", "run_b")
    with pytest.raises(NotFoundError):
        broker.answer("call_0", "allow", "run_b")  # closed calls wait no more


async def test_closing_an_undecided_call_cancels_its_wait() -> None:
    broker = ApprovalBroker()
    waiting = broker.open("call_1", "run_a")
    broker.close("call_1", "run_a")
    assert waiting.cancelled()
    with pytest.raises(NotFoundError):
        broker.answer("call_1", "allow")


async def test_an_unknown_decision_is_refused_before_any_lookup() -> None:
    broker = ApprovalBroker()
    waiting = broker.open("call_2", "run_a")
    with pytest.raises(UsageError, match="unknown approval decision"):
        broker.answer("call_2", "maybe")
    assert not waiting.done()
    broker.close("call_2", "run_a")
