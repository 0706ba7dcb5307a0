"""A routed turn with a delegate: `muxi chat -o json`, a real `muxi serve`'s
non-streaming `POST /v1/chat` and the chat app's status bar report the same
usage (the one fold, protocol/reduce.py), and it counts every model call once.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from muxi_cli.tui.app import MuxiApp
from tests.cli.support import invoke
from tests.fakellm import FakeLLM, Reply, Text, ToolCalls
from tests.security.support_authz import bearer, make_key, serving
from tests.tui.conftest import SIZE, idle, ready, send

pytestmark = pytest.mark.timeout(180)

TEAM = """
router:
  model: openai/router
pricing:
  openai/router: {input: 1.0, output: 2.0}
  openai/coder-model: {input: 3.0, output: 15.0}
agents:
  - name: writer
    description: Writes prose.
    model: openai/writer-model
    memory: {enabled: false}
  - name: coder
    description: Writes code.
    model: openai/coder-model
    delegates: [writer]
    memory: {enabled: false}
"""

#: The four model calls of one turn: the router picks coder, coder asks writer,
#: writer answers, coder answers (its two calls are one usage event).
CALLS = {"openai/router": (40, 8), "openai/coder-model": (31, 14), "openai/writer-model": (7, 3)}


def script_turn(fake_llm: FakeLLM) -> None:
    replies: list[Reply] = [
        ToolCalls([("choose_agent", {"agent": "coder", "reason": "code"})], usage=(40, 8)),
        ToolCalls([("ask_writer", {"question": "a haiku about bugs"})], usage=(20, 10)),
        Text("Bugs hide in the code", usage=(7, 3)),
        Text("The writer says: Bugs hide in the code", usage=(11, 4)),
    ]
    fake_llm.script(*replies)


def expected_usage() -> dict[str, object]:
    router = (40 * 1.0 + 8 * 2.0) / 1e6
    coder = (31 * 3.0 + 14 * 15.0) / 1e6
    return {
        "model": "openai/coder-model",
        "input_tokens": 78,
        "output_tokens": 25,
        "cost": pytest.approx(router + coder),
        "by_model": {m: {"input_tokens": i, "output_tokens": o} for m, (i, o) in CALLS.items()},
    }


def comparable(usage: dict[str, object]) -> dict[str, object]:
    by_model = usage["by_model"]
    assert isinstance(by_model, dict)
    return {
        "model": usage["model"],
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cost": usage["cost_usd"],
        "by_model": {
            m: {"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"]}
            for m, u in by_model.items()
        },
    }


async def status_bar_after_a_turn(config: Path) -> tuple[dict[str, object], str, str | None]:
    """One turn in the chat app: the status bar's usage, its text and model."""

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(config))

    app = MuxiApp(factory, cursor_blink=False, config_path=str(config))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await send(pilot, "my haiku code is broken")
        await idle(pilot)
        bar = app.chat.status_bar
        return bar.status.usage.to_dict(), str(bar.render()), bar.status.model


def test_cli_server_and_chat_app_report_the_same_usage(fake_llm: FakeLLM, tmp_path: Path) -> None:
    config = fake_llm.write_formation(tmp_path, extra=TEAM)

    # 1. muxi chat -o json (each front end asks something else: no route cache hit)
    script_turn(fake_llm)
    code, out, err = invoke("chat", "fix my haiku code", "-o", "json")
    assert code == 0, err
    cli = json.loads(out)
    assert cli["agent"] == "coder" and cli["reply"] == "The writer says: Bugs hide in the code"
    assert {c["tool"]: c["agent"] for c in cli["tool_calls"]} == {"writer": "coder"}

    # 2. a real `muxi serve`, non-streaming POST /v1/chat
    import httpx

    script_turn(fake_llm)
    home = tmp_path / "serve-home"
    key = make_key(home, "user", "alice")
    with serving(home, config) as srv:
        r = httpx.post(
            srv.url + "/v1/chat",
            json={"message": "fix my haiku code, please"},
            headers=bearer(key),
            timeout=60,
        )
    assert r.status_code == 200, r.text
    server = r.json()
    assert server["status"] == "completed" and server["agent"] == "coder"

    # 3. the chat app over the real LocalRuntime: its status bar
    script_turn(fake_llm)
    shown, rendered, model_shown = asyncio.run(status_bar_after_a_turn(config))

    assert comparable(cli["usage"]) == expected_usage()
    assert comparable(server["usage"]) == comparable(cli["usage"])
    assert comparable(shown) == comparable(cli["usage"])
    # Exactly the same object, costs and flags included.
    assert server["usage"] == cli["usage"] == shown
    assert cli["usage"]["by_model"]["openai/writer-model"]["cost_usd"] == 0.0  # a loopback server
    assert "unknown" not in cli["usage"] and "unpriced" not in cli["usage"]
    assert "103 tokens · $0.0004" in rendered
    assert model_shown == "openai/coder-model"
    assert len(fake_llm.requests) == 12  # four calls a turn, none left over
