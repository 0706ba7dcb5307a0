"""One session's timeline through every surface: ``LocalRuntime.timeline``,
``muxi sessions show ID --timeline [--json]`` here and through a profile, and
``GET /v1/sessions/{id}/timeline`` of a real ``muxi serve`` (admin: any
session; a user key: its own, anyone else's is not found)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.protocol.stats import StatsReport
from muxi_cli.protocol.timeline import TimelineTurn, timeline_dict
from muxi_cli.runtime import profiles
from muxi_cli.runtime.local import LocalRuntime
from tests.cli.support import invoke
from tests.fakellm import FakeLLM
from tests.security.support_authz import bearer, make_key, serving
from tests.stats.scripted import MESSAGES, TEAM, USER
from tests.timeline.scripted import OTHER, run_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def local_timeline(config: Path, session_id: str, **kw: Any) -> list[TimelineTurn]:
    rt = await LocalRuntime.open(config, start_tools=False)
    try:
        return await rt.timeline(session_id, **kw)
    finally:
        await rt.aclose()


async def local_stats(config: Path) -> StatsReport:
    rt = await LocalRuntime.open(config, start_tools=False)
    try:
        return await rt.stats(user_id=USER)
    finally:
        await rt.aclose()


def cli_json(*args: str) -> dict[str, Any]:
    code, out, err = invoke(*args, "--json", "--timeline")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_every_surface_shows_the_same_timeline(
    fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = fake_llm.write_formation(tmp_path, extra=TEAM)
    sid, bob_sid = asyncio.run(run_session(fake_llm, config))

    turns = asyncio.run(local_timeline(config, sid[:6]))
    assert [(t.agent, t.status, t.message) for t in turns] == [
        ("coder", "completed", MESSAGES[0]),
        ("writer", "completed", MESSAGES[1]),
        ("writer", "completed", MESSAGES[2]),
    ]
    coder = turns[0]
    assert coder.route is not None and (coder.route.method, coder.route.reason) == ("llm", "maths")
    assert [(x.tool, x.outcome, x.decision) for x in coder.tools] == [
        ("calculator", "ok", "allowed"),
        ("datetime", "denied", "denied"),
        ("calculator", "failed", "allowed"),
        ("writer", "ok", "allowed"),
    ]
    assert [(d.agent, d.model, d.input_tokens) for d in coder.delegations] == [
        ("writer", "openai/writer-model", 7)
    ]
    assert (coder.input_tokens, coder.output_tokens, coder.recalls) == (40 + 20 + 30 + 11, 27, 1)
    assert coder.cost_usd == pytest.approx((40 * 1 + 8 * 2 + 61 * 3 + 19 * 15) / 1e6, abs=1e-6)
    fallback = turns[2].route
    assert fallback is not None and fallback.failure == "no_tool_call" and fallback.fallback
    # alice has this one session: her stats and the timeline's totals agree
    stats = asyncio.run(local_stats(config)).totals
    assert (len(turns), sum(len(t.walk()) for t in turns)) == (stats.turns, stats.runs)
    assert sum(t.total_input_tokens for t in turns) == stats.input_tokens
    assert sum(t.total_output_tokens for t in turns) == stats.output_tokens
    assert sum(t.total_cost_usd or 0 for t in turns) == pytest.approx(stats.cost_usd, abs=1e-6)
    with pytest.raises(Exception, match="session"):  # another user's session is not found
        asyncio.run(local_timeline(config, sid, user_id=OTHER))
    local = timeline_dict(sid, turns)

    assert cli_json("--config", str(config), "sessions", "show", sid[:8]) == local
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = invoke("--config", str(config), "sessions", "show", sid, "--timeline")
    assert code == 0, err
    assert "3 turn(s), 4 run(s)" in out and "datetime (builtin) denied by policy" in out
    assert "↳ writer" in out and "fallback: no_tool_call" in out

    home = Path(os.environ["MUXI_HOME"])
    admin, alice, bob = (
        make_key(home, r, u) for r, u in (("admin", "root"), ("user", USER), ("user", OTHER))
    )
    with serving(home, config) as srv:

        def get(key: str, session_id: str, **headers: str) -> httpx.Response:
            return httpx.get(
                f"{srv.url}/v1/sessions/{session_id}/timeline",
                headers={**bearer(key), **headers},
                timeout=30,
            )

        assert get(admin, sid).json() == local
        assert get(alice, sid[:6]).json() == local
        assert get(bob, bob_sid).json()["turns"][0]["message"] == "hi, I am bob"
        for r in (get(bob, sid), get(bob, sid, **{"x-muxi-user-id": USER}), get(alice, bob_sid)):
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
            assert "maths" not in r.text
        profiles.add_profile("adminp", srv.url)
        profiles.store_key("adminp", admin)
        assert cli_json("-P", "adminp", "sessions", "show", sid) == local
        profiles.add_profile("bobp", srv.url)
        profiles.store_key("bobp", bob)
        code, _, err = invoke("-P", "bobp", "sessions", "show", sid, "--timeline")
        assert code != 0 and "session" in err.lower()
