"""The parts of a session's timeline: the query over recorded runs (delegates
nested two deep, a cancelled turn, another session's runs left out, each turn's
question), the rows' wire form, the pairing of delegation calls with their
runs, and the CLI's tree (plain text, control characters removed)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from muxi_cli.cli.timeline_view import render_timeline
from muxi_cli.protocol.events import Event, EventFactory
from muxi_cli.protocol.records import SessionInfo
from muxi_cli.protocol.timeline import TimelineRoute, TimelineTool, TimelineTurn
from muxi_cli.runtime.observe import EventTap
from muxi_cli.runtime.recorder import RunRecorder
from muxi_cli.stores.run_timeline import first_line, query_timeline
from muxi_cli.stores.runs import RunWriter, connect
from muxi_cli.stores.sessions import SessionStore


def delegating_turn(sid: str, *, cancel: bool = False) -> tuple[str, list[Event]]:
    """coder routes in, calls a tool and asks writer, who asks critic."""
    f = EventFactory(sid)
    d = EventFactory(sid, parent_run_id=f.run_id, depth=1)
    dd = EventFactory(sid, parent_run_id=d.run_id, depth=2)
    out: list[Event] = [
        f.run_started("coder", "ann"),
        f.agent_routed("coder", "code", "llm", router_model="m/router"),
        f.memory_recalled([{"id": "m1", "kind": "fact", "text": "x", "score": 0.75}]),
        f.tool_requested("c1", "builtin", "calculator", {"expression": "1"}),
        f.tool_approval("c1", "allowed", "user"),
        f.tool_result("c1", True, "1", 1500),
        f.tool_requested("c2", "agent", "writer", {}),
        d.run_started("writer", "ann"),
        d.tool_requested("c1", "agent", "critic", {}),
        dd.run_started("critic", "ann"),
        dd.usage("m/critic", 2, 1, 0.25),
        dd.run_completed("fine"),
        d.tool_result("c1", True, "fine", 5),
        d.usage("m/writer", 7, 3, 0.5),
        d.run_completed("hi"),
        f.tool_result("c2", True, "hi", 20),
        f.text_delta("done"),
        f.usage("m/coder", 10, 5, 1.0),
    ]
    if cancel:
        out.append(f.tool_requested("c3", "builtin", "datetime", {}))
        out.append(f.run_failed("cancelled", "stopped"))
    else:
        out.append(f.run_completed("done"))
    return f.run_id, out


def test_a_sessions_runs_come_back_in_order_with_delegates_nested(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    store = SessionStore(db)
    mine = store.create_session("ann", "maths").id
    other = store.create_session("ann", "other").id
    writer = RunWriter(db)
    tap = EventTap()
    tap.add(RunRecorder(writer))
    first, events = delegating_turn(mine)
    store.add_message(mine, "user", "\n  what is 1?\nsecond line", run_id=first)
    for event in events:
        tap(event)
    _, events = delegating_turn(other)
    for event in events:
        tap(event)
    second, events = delegating_turn(mine, cancel=True)
    for event in events:
        tap(event)
    writer.close()

    conn = connect(db)
    try:
        turns = query_timeline(conn, mine)
        assert query_timeline(conn, "s_nothing_here") == []
    finally:
        conn.close()
    assert [(t.run_id, t.status, t.message) for t in turns] == [
        (first, "completed", "what is 1?"),
        (second, "cancelled", None),  # no stored question for it
    ]
    turn = turns[0]
    assert (turn.agent, turn.model, turn.input_tokens, turn.cost_usd) == (
        "coder",
        "m/coder",
        10,
        1.0,
    )
    assert turn.route == TimelineRoute("llm", "code", False, None, "m/router")
    assert (turn.recalls, turn.recall_top, turn.first_token_ms is not None) == (1, 0.75, True)
    assert [(x.tool, x.outcome, x.decision, x.approval_by, x.duration_ms) for x in turn.tools] == [
        ("calculator", "ok", "allowed", "user", 1500),
        ("writer", "ok", None, None, 20),
    ]
    [writer_run] = turn.delegations
    assert (writer_run.agent, writer_run.parent_run_id, writer_run.route) == (
        "writer", first, None,
    )  # fmt: skip
    assert [x.tool for x in writer_run.tools] == ["critic"]
    assert [r.agent for r in turn.walk()] == ["coder", "writer", "critic"]
    assert (turn.total_input_tokens, turn.total_output_tokens, turn.total_cost_usd) == (19, 9, 1.75)
    cancelled = turns[1]
    assert (cancelled.error_code, cancelled.tools[-1].outcome) == ("cancelled", "cancelled")


def test_rows_round_trip_and_ignore_unknown_fields() -> None:
    turn = TimelineTurn(
        run_id="run_1",
        route=TimelineRoute("llm", "maths", cached=True),
        tools=[TimelineTool("calculator", "builtin", "ok", "allowed", "policy", 3, "c1")],
        delegations=[TimelineTurn(run_id="run_2", parent_run_id="run_1", agent="writer")],
        message="hi",
    )
    data = turn.to_dict()
    data["from_the_future"] = 1
    data["tools"][0]["colour"] = "red"
    data["delegations"][0]["route"] = None
    assert TimelineTurn.from_dict(data) == turn


def test_delegation_calls_pair_with_the_runs_they_started() -> None:
    a1, a2 = TimelineTurn("r2", agent="writer"), TimelineTurn("r3", agent="writer")
    lost = TimelineTurn("r4", agent="critic")
    calc = TimelineTool("calculator", "builtin", "failed", "allowed", "policy", 1200)
    ask1, ask2 = TimelineTool("writer", "agent", "ok"), TimelineTool("writer", "agent", "ok")
    turn = TimelineTurn("r1", tools=[ask1, calc, ask2], delegations=[a1, a2, lost])
    assert turn.steps() == [(ask1, a1), (calc, None), (ask2, a2), (None, lost)]
    assert calc.summary() == "calculator (builtin) failed 1.2s, allowed by policy"
    denied = TimelineTool("datetime", "builtin", "denied", "denied", "policy")
    assert denied.summary() == "datetime (builtin) denied by policy"
    route = TimelineRoute("default", "no answer", failure="no_tool_call", router_model="m/r")
    assert route.fallback and route.summary() == (
        "default: no answer (fallback: no_tool_call, router m/r)"
    )


def test_the_tree_is_plain_text_without_control_characters() -> None:
    child = TimelineTurn("r2", "r1", agent="writer", model="m/w", input_tokens=7, cost_usd=0.5)
    turn = TimelineTurn(
        "r1",
        started_at="2026-12-06T10:00:00.000Z",
        agent="coder",
        model="m/c",
        status="failed",
        error_code="provider_error",
        input_tokens=10,
        output_tokens=5,
        cost_usd=1.0,
        route=TimelineRoute("llm", "maths [bold]\x1b[31mred"),
        tools=[TimelineTool("writer", "agent", "ok", duration_ms=20)],
        delegations=[child],
        message="what is \x1b]0;title\x07 1?",
    )
    info = SessionInfo("s_1", "Maths", "ann", "coder", "", "", message_count=2)
    buf = io.StringIO()
    console = Console(file=buf, width=200, color_system=None)
    for item in render_timeline(info, [turn]):
        console.print(item)
    text = buf.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "1 turn(s), 2 run(s) · 17 in / 5 out tokens · $1.50 · 1 not completed" in text
    assert "coder  ← llm: maths [bold]" in text  # stored text is not markup
    assert "failed (provider_error)" in text
    assert "└── writer (agent) ok 20ms" in text
    assert "↳ writer  m/w · completed" in text
    assert first_line("\n\n  x  \ny") == "x" and len(first_line("a" * 500)) == 200


def test_a_remote_client_install_imports_the_timeline_views() -> None:
    # The base install (no local part: no fastapi, lancedb, numpy) renders what a server sends.
    root = Path(__file__).resolve().parents[2]
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r});"
        "from tests.hideparts import HideModules, hidden_modules;"
        "sys.meta_path.insert(0, HideModules(hidden_modules(['local'])));"
        "import muxi_cli.tui.screens.timeline, muxi_cli.tui.screens.sessions;"
        "import muxi_cli.runtime.remote;"
        "from muxi_cli.cli.timeline_view import render_timeline;"
        "from muxi_cli.protocol.timeline import TimelineTurn;"
        "print(TimelineTurn.from_dict({'run_id': 'r1', 'tools': [{'tool': 't'}]}).tools[0].tool)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "t"


def test_a_delegation_call_that_never_ran_pairs_with_no_run() -> None:
    # Denied, or cut off while waiting for approval: no delegate run started, so
    # the run of the next call to that agent is not shown under this one.
    run = TimelineTurn("r2", agent="writer")
    denied = TimelineTool("writer", "agent", "denied", "denied", "user")
    waiting = TimelineTool("writer", "agent", "cancelled", "pending")
    asked = TimelineTool("writer", "agent", "ok", "allowed", "user")
    turn = TimelineTurn("r1", tools=[denied, waiting, asked], delegations=[run])
    assert turn.steps() == [(denied, None), (waiting, None), (asked, run)]
