"""Where the numbers come from: one scripted set of turns (routing to two agents,
a tool allowed, one denied, a failing tool, a delegation, a memory recall, a
cached route) and the same totals through ``LocalRuntime.stats``, ``muxi stats
--json`` (here and through a profile) and ``GET /v1/stats`` of a real ``muxi serve``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.protocol.stats import StatsReport
from muxi_cli.runtime import profiles
from muxi_cli.runtime.local import LocalRuntime
from tests.cli.support import invoke
from tests.fakellm import FakeLLM
from tests.security.support_authz import bearer, make_key, serving
from tests.stats.scripted import TEAM, USER, run_turns

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def local_stats(config: Path, **query: Any) -> StatsReport:
    rt = await LocalRuntime.open(config, start_tools=False)
    try:
        return await rt.stats(**query)
    finally:
        await rt.aclose()


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """Everything but the query's echo (which user it was scoped to)."""
    return {k: v for k, v in report.items() if k != "user_id"}


def cli_json(*args: str) -> dict[str, Any]:
    code, out, err = invoke(*args, "stats", "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_every_surface_reports_the_same_totals(
    fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = fake_llm.write_formation(tmp_path, extra=TEAM)
    asyncio.run(run_turns(fake_llm, config))

    local = asyncio.run(local_stats(config)).to_dict()
    t = local["totals"]
    assert (t["turns"], t["runs"], t["users"], t["failed"]) == (3, 4, 1, 0)
    assert (t["input_tokens"], t["output_tokens"]) == (158, 47)
    assert t["cost_usd"] == pytest.approx((2 * (40 + 16) + 61 * 3 + 19 * 15) / 1e6)
    assert {g["key"]: (g["turns"], g["runs"]) for g in local["groups"]} == {
        "coder": (1, 1),
        "writer": (2, 3),
    }
    tools = {x["tool"]: (x["calls"], x["ok"], x["failed"], x["denied"]) for x in local["tools"]}
    assert tools == {"calculator": (2, 1, 1, 0), "datetime": (1, 0, 0, 1), "writer": (1, 1, 0, 0)}
    assert (local["routed"], local["route_cache_hits"], local["router_fallbacks"]) == (3, 1, 0)
    assert (local["recalls"], local["recall_turns"]) == (1, 1)
    assert local["recall_top_score_avg"] > 0
    assert t["duration_p95_ms"] >= t["duration_p50_ms"] >= t["first_token_p50_ms"] >= 0

    assert figures(cli_json("--config", str(config))) == figures(local)
    code, out, err = invoke("--config", str(config), "stats", "--by", "tool")
    assert code == 0, err
    assert "3 turns (4 runs)" in out and "calculator" in out and "█" in out

    home = Path(os.environ["MUXI_HOME"])
    admin, alice, bob = (
        make_key(home, r, u) for r, u in (("admin", "root"), ("user", USER), ("user", "bob"))
    )
    monkeypatch.setenv("COLUMNS", "200")
    with serving(home, config) as srv:

        def get(key: str, **params: str) -> dict[str, Any]:
            r = httpx.get(srv.url + "/v1/stats", params=params, headers=bearer(key), timeout=30)
            assert r.status_code == 200, r.text
            data: dict[str, Any] = r.json()
            return data

        assert figures(get(admin)) == figures(local)
        assert figures(get(admin, user=USER)) == figures(local)
        assert figures(get(alice)) == figures(local)
        assert get(bob, user=USER)["totals"]["turns"] == 0  # a user key sees its own only
        assert get(admin, since="2999-01-01")["totals"]["turns"] == 0
        by_day = get(admin, by="day")["groups"]
        assert [g["turns"] for g in by_day] == [3]
        profiles.add_profile("adminp", srv.url)
        profiles.store_key("adminp", admin)
        assert figures(cli_json("-P", "adminp")) == figures(local)
