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
    assert broker.pending() == []
