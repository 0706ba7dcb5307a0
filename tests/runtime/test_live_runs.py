"""The runs in flight as the event tap shows them (runtime/live.py): a turn, its
tool waiting for approval, a delegate nested under it, tokens so far, a cancel
that ends the delegate too, the user scope, and the report's wire form."""

from __future__ import annotations

import pytest

from muxi_cli.protocol.events import EventFactory
from muxi_cli.protocol.live import LiveReport
from muxi_cli.runtime.live import LiveRuns
from muxi_cli.runtime.observe import EventTap


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_turn_its_tool_and_its_delegate_in_flight_until_the_turn_ends() -> None:
    tap, clock = EventTap(), Clock()
    live = LiveRuns(tap, clock=clock)
    ann = EventFactory("s_live0001")
    bob = EventFactory("s_live0002")
    tap(ann.run_started("coder", "ann"))
    tap(bob.run_started("writer", "bob"))
    tap(ann.tool_requested("c1", "builtin", "calculator", {"expression": "1"}))
    tap(ann.tool_approval("c1", "pending", "user"))
    clock.now += 2.5
    report = live.report()
    assert report.all_users and [r.run_id for r in report.turns] == [ann.run_id, bob.run_id]
    run = report.runs[0]
    assert (run.agent, run.user_id, run.elapsed_ms, run.tool_calls) == ("coder", "ann", 2500, 1)
    assert run.tool is not None
    assert (run.tool.tool, run.tool.server, run.tool.state) == ("calculator", "builtin", "approval")
    assert run.tool.elapsed_ms == 2500

    tap(ann.tool_approval("c1", "allowed", "user"))
    assert live.report().runs[0].tool.state == "running"  # type: ignore[union-attr]
    tap(ann.tool_result("c1", True, "1", 3))
    tap(ann.tool_requested("c2", "agent", "writer", {}))
    d = EventFactory(ann.session_id, parent_run_id=ann.run_id, depth=1)
    tap(d.run_started("writer", None))
    tap(d.usage("m/writer", 7, 3, 0.5))
    mine = live.report("ann")
    assert [r.run_id for r in mine.runs] == [ann.run_id, d.run_id]
    delegate = mine.runs[1]
    assert (delegate.parent_run_id, delegate.user_id) == (ann.run_id, "ann")  # its turn's user
    assert (delegate.model, delegate.input_tokens, delegate.output_tokens) == ("m/writer", 7, 3)
    assert mine.runs[0].tool is not None and mine.runs[0].tool.tool == "writer"

    # A cancel ends the turn with run.failed; its delegate never got its own end.
    tap(ann.run_failed("cancelled", "stopped"))
    assert [r.run_id for r in live.report().runs] == [bob.run_id]
    tap(bob.tool_requested("c3", "builtin", "datetime", {}))
    tap(bob.tool_approval("c3", "denied", "policy"))
    assert live.report().runs[0].tool is None  # a denied call never runs
    tap(bob.run_completed("done"))
    assert live.report().runs == [] and len(live) == 0

    live.close()
    tap(EventFactory("s_live0003").run_started("coder", "cy"))
    assert len(live) == 0  # detached from the tap


def test_the_report_round_trips_and_a_user_view_has_no_user_ids() -> None:
    tap = EventTap()
    live = LiveRuns(tap)
    f = EventFactory("s_live0004")
    tap(f.run_started("coder", "ann"))
    tap(f.tool_requested("c1", "builtin", "calculator", {}))
    report = live.report()
    assert LiveReport.from_dict(report.to_dict()) == report
    hidden = live.report("ann").without_user_ids()
    assert not hidden.all_users and [r.user_id for r in hidden.runs] == [None]
    assert live.report("bob").runs == []
    # Fields a newer server adds are ignored.
    data = report.to_dict()
    data["runs"][0]["mood"] = "busy"
    assert LiveReport.from_dict(data).runs[0].tool == report.runs[0].tool


def test_model_calls_show_the_model_and_tokens_before_the_run_ends() -> None:
    """Each ``model.call`` counts as it ends; the run's ``usage`` repeats those calls
    (the usage rule) and is not counted twice; the router's usage is counted once."""
    tap = EventTap()
    live = LiveRuns(tap)
    f = EventFactory("s_live0003")
    tap(f.run_started("coder", "ann"))
    tap(f.usage("m/router", 5, 1, 0.0))  # the router's call, before the agent's
    tap(f.model_call("m/coder", 900, 200, 40, 10, finish="tool_calls"))
    run = live.report().runs[0]
    assert (run.model, run.input_tokens, run.output_tokens) == ("m/coder", 45, 11)
    tap(f.model_call("m/coder", 700, 150, 60, 20))
    tap(f.usage("m/coder", 100, 30, 0.01))  # the agent's two calls again
    run = live.report().runs[0]
    assert (run.model, run.input_tokens, run.output_tokens) == ("m/coder", 105, 31)


def test_a_servers_numbers_are_read_as_numbers() -> None:
    # The dashboard adds its own clock to elapsed_ms on every tick: a null or a
    # text there (a proxy, another program on the port) raised in its timer and
    # closed the chat app. Now the report is refused when read (a note says so).
    raw = {
        "at": "2026-12-06T00:00:00Z",
        "runs": [
            {
                "run_id": "r1",
                "session_id": "s1",
                "elapsed_ms": None,
                "tool_calls": "2",
                "input_tokens": 5.0,
                "model": None,
                "tool": {"call_id": "c1", "tool": "add", "server": None, "elapsed_ms": "7"},
            }
        ],
    }
    (run,) = LiveReport.from_dict(raw).runs
    assert (run.elapsed_ms, run.tool_calls, run.input_tokens, run.output_tokens) == (0, 2, 5, 0)
    assert run.tool is not None and (run.tool.elapsed_ms, run.tool.server) == (7, "")
    assert run.model == ""
    raw["runs"][0]["elapsed_ms"] = "soon"
    with pytest.raises(ValueError):
        LiveReport.from_dict(raw)
