"""Memory stats and the memory map end to end: the scripted turns (one recalls a
memory) on a real LocalRuntime, then the same figures through the runtime, the
CLI (here and through a profile) and ``GET /v1/memory/stats|map`` of a real
``muxi serve``, where a user key sees its own user's only."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli import paths
from muxi_cli.protocol.memstats import MemoryMap, MemoryStats
from muxi_cli.runtime import profiles
from muxi_cli.runtime.local import LocalRuntime
from tests.cli.support import invoke
from tests.fakellm import FakeLLM
from tests.security.support_authz import bearer, make_key, serving
from tests.stats.scripted import TEAM, USER, run_turns

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

MORE = [
    "User cycles to work along the river",
    "User rides a road bike on weekends",
    "User drinks green tea every morning",
    "User prefers oolong tea to coffee",
    "User's cat is called Miso",
]
EVIL = "<script>alert('x')</script> \"quoted\""


async def _build(config: Path) -> tuple[MemoryStats, MemoryMap, MemoryMap]:
    rt = await LocalRuntime.open(config, user_id=USER, start_tools=False)
    try:
        old = await rt.memory_add("User lives in Berlin", user_id=USER)
        await rt.memory_add("User moved to Lisbon", user_id=USER, replaces=[old.id])
        for text in [*MORE, EVIL]:
            await rt.memory_add(text, user_id=USER)
        await rt.memory_add("Bob's secret plan", user_id="bob")
        stats = await rt.memory_stats(USER)
        return stats, await rt.memory_map(USER, clusters=3), await rt.memory_map(USER)
    finally:
        await rt.aclose()


def _json(*args: str) -> dict[str, Any]:
    code, out, err = invoke(*args, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def _figures(data: dict[str, Any]) -> dict[str, Any]:
    """Everything but the time the figures were computed at."""
    return {k: v for k, v in data.items() if k != "at"}


def test_memory_stats_and_map_agree_everywhere(
    fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = fake_llm.write_formation(tmp_path, extra=TEAM)
    asyncio.run(run_turns(fake_llm, config))  # turn 1 recalls "User loves haiku ..."
    stats, clustered, auto = asyncio.run(_build(config))

    assert (stats.current, stats.superseded) == (1 + 1 + len(MORE) + 1, 1)
    assert stats.by_kind == {"fact": stats.current}
    assert [link.text for link in stats.chains[0]] == [
        "User lives in Berlin",
        "User moved to Lisbon",
    ]
    assert (stats.recalls, stats.recall_turns) == (1, 1)
    top = stats.top_recalled[0]
    assert (top.count, top.text) == (1, "User loves haiku about numbers")
    recent = stats.recent_recalls[0]
    assert recent.agent == "coder" and recent.session_id and recent.score
    assert "Bob" not in json.dumps(stats.to_dict())

    db = sqlite3.connect(paths.data_dir() / "sessions.db")
    try:
        rows = db.execute("SELECT user_id, agent, memory_id FROM run_recalls").fetchall()
    finally:
        db.close()
    assert rows == [(USER, "coder", top.memory_id)]

    assert len(clustered.points) == stats.current  # current memories only
    assert len(clustered.clusters) == 3 and sum(c.size for c in clustered.clusters) == stats.current
    assert {c.label for c in clustered.clusters} <= {p.text for p in clustered.points}
    assert "Bob" not in json.dumps(clustered.to_dict()) and auto.points

    # The CLI, here: the same figures and the same map (deterministic).
    base = ("--config", str(config), "memory")
    assert _figures(_json(*base, "stats", "--user", USER)) == _figures(stats.to_dict())
    assert _json(*base, "map", "--user", USER, "-k", "3") == clustered.to_dict()
    assert "schema_version" in _json(*base, "stats")  # without --user: the store, as before
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = invoke(*base, "stats", "--user", USER)
    assert code == 0, err
    assert "recalls before turns: 1 in 1 turn(s)" in out and "→" in out and "Lisbon" in out
    code, out, err = invoke(*base, "map", "--user", USER, "-k", "3")
    assert code == 0, err
    assert "┌" + "─" * 98 + "┐" in out and "A " in out and "<script>" in out  # plain text
    page = tmp_path / "map.html"
    code, _out, err = invoke(*base, "map", "--user", USER, "--out", str(page))
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html and "Miso" in html
    code, _out, err = invoke(*base, "map", "--out", str(tmp_path / "map.png"))
    assert code == 2 and "FILE.svg" in err

    # A real server: each key sees its own user's figures; an admin any user's.
    home = Path(os.environ["MUXI_HOME"])
    admin, alice, bob = (
        make_key(home, r, u) for r, u in (("admin", "root"), ("user", USER), ("user", "bob"))
    )
    with serving(home, config) as srv:

        def get(path: str, key: str, **headers: str) -> dict[str, Any]:
            r = httpx.get(srv.url + path, headers={**bearer(key), **headers}, timeout=30)
            assert r.status_code == 200, r.text
            data: dict[str, Any] = r.json()
            return data

        assert _figures(get("/v1/memory/stats", alice)) == _figures(stats.to_dict())
        as_alice = {"x-muxi-user-id": USER}
        assert _figures(get("/v1/memory/stats", admin, **as_alice)) == _figures(stats.to_dict())
        theirs = get("/v1/memory/stats", bob, **as_alice)  # a user key: its own user only
        assert (theirs["user_id"], theirs["current"], theirs["recalls"]) == ("bob", 1, 0)
        bobs_map = get("/v1/memory/map", bob, **as_alice)
        assert [p["text"] for p in bobs_map["points"]] == ["Bob's secret plan"]
        assert "haiku" not in json.dumps(theirs) + json.dumps(bobs_map)
        r = httpx.get(srv.url + "/v1/memory/map?clusters=99", headers=bearer(alice), timeout=30)
        assert r.status_code == 400

        # The remote client draws what the server computed.
        profiles.add_profile("alicep", srv.url)
        profiles.store_key("alicep", alice)
        assert _json("-P", "alicep", "memory", "map", "-k", "3") == clustered.to_dict()
        remote = _json("-P", "alicep", "memory", "stats", "--user", USER)
        assert _figures(remote) == _figures(stats.to_dict())
        code, out, err = invoke("-P", "alicep", "memory", "stats", "--user", "bob")
        assert code == 2 and "admin key" in err
