"""The reducer: one fold of a turn's events (usage rule in protocol/reduce.py)."""

from __future__ import annotations

import pytest

from muxi_cli.protocol.events import EventFactory, decode
from muxi_cli.protocol.reduce import Reducer, UsageTotals, reduce


def routed_turn_with_delegate() -> list:
    top = EventFactory("s_1", "run_top")
    sub = EventFactory("s_1", "run_sub", parent_run_id="run_top", depth=1)
    return [
        top.run_started("planner", "alice"),
        top.agent_routed("planner", "it plans", "llm", router_model="fake/router"),
        top.usage("fake/router", 100, 10, 0.001),  # the router's call
        top.memory_recalled([{"id": "m1", "text": "likes tea"}]),
        top.tool_requested("call_0", "agent", "writer", {"question": "write"}),
        top.tool_approval("call_0", "allowed", "policy"),
        sub.run_started("writer", "alice"),
        sub.agent_routed("writer", "delegated by planner", "explicit"),
        sub.tool_requested("call_0", "builtin", "calculator", {"expression": "1+1"}),
        sub.tool_approval("call_0", "denied", "policy"),
        sub.tool_result("call_0", False, "denied by policy", 0),
        sub.text_delta("draft"),
        sub.usage("fake/writer", 50, 20, None),  # unpriced
        sub.run_completed("draft"),
        top.tool_result("call_0", True, "draft", 30),
        top.text_delta("Here: "),
        top.text_delta("draft"),
        top.notice("n", "careful"),
        top.usage("fake/planner", 200, 40, 0.004),
        top.run_completed("Here: draft"),
    ]


def test_a_routed_turn_with_a_delegate() -> None:
    s = reduce(routed_turn_with_delegate())
    assert (s.run_id, s.session_id, s.agent, s.status) == ("run_top", "s_1", "planner", "completed")
    assert s.reply == "Here: draft" and s.error is None
    assert s.routing is not None and s.routing.router_model == "fake/router"
    assert s.memories == [{"id": "m1", "text": "likes tea"}]
    assert [n.message for n in s.notices] == ["careful"]
    # Every model call once: router + planner (top level) + writer (nested).
    u = s.total_usage
    assert (u.input_tokens, u.output_tokens) == (350, 70)
    assert u.cost_usd == pytest.approx(0.005) and u.unpriced and not u.unknown
    assert u.model == "fake/planner"  # the top-level agent's model, not the delegate's
    assert {m: (p.input_tokens, p.output_tokens) for m, p in u.by_model.items()} == {
        "fake/router": (100, 10),
        "fake/writer": (50, 20),
        "fake/planner": (200, 40),
    }
    assert u.by_model["fake/writer"].cost_usd is None
    # The top-level run's own usage leaves the delegate out.
    assert (s.usage.input_tokens, s.usage.output_tokens) == (300, 50)
    # The same call id in two runs is two calls.
    assert [(c.run_id, c.call_id, c.agent) for c in s.tool_calls_all] == [
        ("run_top", "call_0", "planner"),
        ("run_sub", "call_0", "writer"),
    ]
    assert [c.tool for c in s.tool_calls] == ["writer"]
    assert s.tool_calls[0].to_dict() == {
        "call_id": "call_0",
        "server": "agent",
        "tool": "writer",
        "arguments": {"question": "write"},
        "decision": "allowed",
        "ok": True,
        "content": "draft",
        "duration_ms": 30,
    }
    assert s.denied  # the delegate's call was denied
    (child,) = s.runs
    assert (child.run_id, child.agent, child.depth, child.status) == (
        "run_sub",
        "writer",
        1,
        "completed",
    )
    assert child.reply == "draft" and child.usage.input_tokens == 50


def test_a_turn_folds_the_same_after_the_wire() -> None:
    events = routed_turn_with_delegate()
    direct = reduce(events).total_usage.to_dict()
    assert reduce(decode(e.to_json()) for e in events).total_usage.to_dict() == direct
    assert direct["by_model"]["fake/writer"] == {
        "input_tokens": 50,
        "output_tokens": 20,
        "cost_usd": None,
    }
    assert direct["unpriced"] is True and "unknown" not in direct


def test_failed_cancelled_and_partial_turns() -> None:
    f = EventFactory("s", "run_1")
    partial = reduce([f.run_started("a", None), f.text_delta("so "), f.text_delta("far")])
    assert partial.status == "incomplete" and partial.reply == "so far"
    cancelled = reduce(
        [f.run_started("a", None), f.text_delta("so"), f.run_failed("cancelled", "stopped")]
    )
    assert cancelled.status == "cancelled" and cancelled.reply == "so"
    failed = reduce([f.run_started("a", None), f.run_failed("provider_error", "boom", "retry")])
    assert failed.status == "failed"
    assert failed.error == {"code": "provider_error", "message": "boom", "hint": "retry"}


def test_a_nested_failure_does_not_fail_the_turn() -> None:
    top = EventFactory("s", "run_1")
    sub = EventFactory("s", "run_2", parent_run_id="run_1", depth=1)
    s = reduce(
        [top.run_started("a", None), sub.run_failed("x", "sub broke"), top.run_completed("ok")]
    )
    assert s.status == "completed" and s.runs[0].status == "failed"


def test_unknown_usage_and_unknown_events() -> None:
    f = EventFactory("s", "run_1")
    other = decode({"type": "future.thing", "run_id": "run_1", "session_id": "s", "x": 1})
    s = reduce([f.run_started("a", None), other, f.usage("m", 0, 0, 0.5, unknown=True)])
    assert s.total_usage.unknown and s.total_usage.cost_usd is None
    assert s.total_usage.to_dict()["unknown"] is True


def test_live_feed_matches_the_batch_fold() -> None:
    events = routed_turn_with_delegate()
    reducer = Reducer()
    seen = []
    for event in events:
        seen.append(reducer.feed(event).total_usage.total)
    assert seen[-1] == reduce(events).total_usage.total == 420
    assert seen[2] == 110  # the router's call shows as soon as it is reported


def test_session_totals_merge_turns() -> None:
    a, b = UsageTotals(), UsageTotals()
    a.add(10, 5, 0.01, model="m1")
    a.model = "m1"
    b.add(1, 1, None, model="m2")
    b.model = "m2"
    both = a.merged(b)
    assert (both.input_tokens, both.output_tokens, both.model) == (11, 6, "m2")
    assert both.cost_usd == pytest.approx(0.01) and both.unpriced
    assert set(both.by_model) == {"m1", "m2"}
    assert a.by_model["m1"].input_tokens == 10  # the operands are unchanged


def test_a_call_id_repeated_in_a_later_round_is_a_new_call() -> None:
    """Providers that number calls per answer send ``call_0`` in every round of
    one run: the reducer keeps both calls instead of overwriting the first."""
    f = EventFactory("s_1", "run_1")
    s = reduce(
        [
            f.run_started("a", "alice"),
            f.tool_requested("call_0", "builtin", "read_file", {"path": "x"}),
            f.tool_approval("call_0", "allowed", "policy"),
            f.tool_result("call_0", True, "contents", 3),
            f.tool_requested("call_0", "builtin", "write_file", {"path": "x"}),
            f.tool_approval("call_0", "denied", "user"),
            f.tool_result("call_0", False, "denied", 0),
            f.run_completed("done"),
        ]
    )
    calls = [(c.tool, c.decision, c.ok) for c in s.tool_calls_all]
    assert calls == [("read_file", "allowed", True), ("write_file", "denied", False)]


def test_media_transcript_and_audio_events_are_folded() -> None:
    f = EventFactory("s_1")
    summary = reduce(
        [
            f.run_started("assistant", None),
            f.media_processed("ab" * 32, "scan.pdf", "application/pdf", ["text", "ocr"], {}),
            f.media_failed("", "bad.png", "bad_media", "truncated"),
            f.transcript_delta("hello"),
            f.transcript_delta("hello there", final=True),
            f.transcript_delta("and"),
            f.audio_delta("AAA=", "audio/mpeg", 0, False),
            f.audio_delta("BBB=", "audio/mpeg", 1, True),
        ]
    )
    assert [e.type for e in summary.media] == ["media.processed", "media.failed"]
    assert summary.transcript == "hello there and"
    assert summary.audio == ["AAA=", "BBB="] and summary.audio_type == "audio/mpeg"
