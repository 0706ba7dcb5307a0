"""Prometheus metrics of a real `muxi serve` on loopback, after scripted turns.

One server for the module: two agents, a tool allowed, one denied, one that
fails; then ``/metrics`` is parsed with prometheus-client's own parser.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.net import free_port
from tests.server.serveproc import ServeProcess

pytestmark = pytest.mark.slow

SERVERS = Path(__file__).resolve().parent.parent / "mcp_servers"
FORMATION = f"""
pricing:
  openai/fake-model: {{input: 1000000, output: 2000000}}  # 1 and 2 USD a token
mcp_servers:
  demo:
    command: {sys.executable}
    args: ["{SERVERS / "demo_server.py"}"]
agents:
  - name: helper
    mcp_servers: [demo]
    tools: [calculator, {{builtin: datetime, approval: ask}}, {{python: "mtools:boom"}}]
  - name: other
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("metrics")
    (tmp / "mtools.py").write_text(
        'def boom() -> str:\n    """Always fails."""\n    raise RuntimeError("boom")\n'
    )
    home = tmp / "home"
    store = KeyStore(home / "data" / "server_keys.json")
    _, admin = store.create("admin", "root")
    _, user = store.create("user", "alice")
    _, hasty = store.create("user", "bob")
    with FakeLLM() as llm:
        config = tmp / "muxi.yaml"
        config.write_text(llm.formation_yaml(extra=FORMATION))
        metrics_port = free_port()
        with ServeProcess(home, config, args=("--metrics-port", str(metrics_port))) as proc:
            llm.script(
                ToolCalls([("calculator", {"expression": "2+2"}), ("datetime", {}), ("boom", {})]),
                Text("done"),
                Text("hello"),
            )
            head = {"authorization": f"Bearer {user}"}
            with httpx.Client(base_url=proc.url, timeout=30) as c:
                r = c.post(
                    "/v1/chat",
                    json={"message": "go", "agent": "helper", "approval": "deny"},
                    headers=head,
                )
                assert r.status_code == 200, r.text
                r = c.post(
                    "/v1/chat",
                    json={"message": "hi", "agent": "other", "stream": False},
                    headers=head,
                )
                assert r.status_code == 200, r.text
                # Distinct ids in paths and distinct users: one series each.
                for i in range(30):
                    c.get(f"/v1/sessions/nope-{i}", headers=head)
                    c.get(f"/v1/sessions/nope-{i}/messages", headers=head)
                    c.get(
                        "/v1/me",
                        headers={"authorization": f"Bearer {admin}", "x-muxi-user-id": f"u{i}"},
                    )
                    c.get(f"/no/such/{i}")
                # More than the burst (60) at once from one key: some get 429.
                hurried = [c.get("/v1/me", headers={"x-muxi-key": hasty}) for _ in range(80)]
            yield {
                "proc": proc,
                "admin": admin,
                "user": user,
                "metrics_port": metrics_port,
                "refused": sum(r.status_code == 429 for r in hurried),
            }


def families(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], sample: str, **labels: str) -> float:
    total = 0.0
    found = False
    for fam in fams.values():
        for s in fam.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
                found = True
    assert found, f"no sample {sample} {labels}"
    return total


def scrape(served: dict[str, Any]) -> dict[str, Any]:
    r = httpx.get(
        served["proc"].url + "/metrics", headers={"authorization": f"Bearer {served['admin']}"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return families(r.text)


def test_turns_tokens_and_tools(served: dict[str, Any]) -> None:
    fams = scrape(served)
    model = "openai/fake-model"
    assert value(fams, "muxi_turns_total", agent="helper", outcome="completed") == 1
    assert value(fams, "muxi_turns_total", agent="other", outcome="completed") == 1
    labels = {s.labels["model"] for s in fams["muxi_turns"].samples}
    assert labels == {model}, labels
    assert value(fams, "muxi_tokens_total", agent="helper", direction="input") == 30
    assert value(fams, "muxi_tokens_total", agent="helper", direction="output") == 15
    assert value(fams, "muxi_tokens_total", agent="other", direction="input") == 10
    assert value(fams, "muxi_cost_usd_total", agent="helper", model=model) == pytest.approx(60)
    assert value(fams, "muxi_cost_usd_total", agent="other", model=model) == pytest.approx(20)
    assert value(fams, "muxi_turn_duration_seconds_count", agent="helper", model=model) == 1
    assert value(fams, "muxi_turn_first_token_seconds_count", agent="other", model=model) == 1
    # helper: the tool round and the answer; other: one call.
    assert value(fams, "muxi_model_call_duration_seconds_count", model=model) == 3
    assert value(fams, "muxi_tool_calls_total", tool="calculator", outcome="ok") == 1
    assert value(fams, "muxi_tool_calls_total", tool="datetime", outcome="denied") == 1
    assert value(fams, "muxi_tool_calls_total", tool="boom", outcome="failed") == 1
    assert {s.labels["outcome"] for s in fams["muxi_tool_calls"].samples} == {
        "ok",
        "denied",
        "failed",
    }
    # Request metrics: route templates, status classes.
    assert value(fams, "muxi_http_requests_total", method="POST", route="/v1/chat") == 2
    assert (
        value(
            fams,
            "muxi_http_requests_total",
            method="GET",
            route="/v1/sessions/{session_id}",
            status="4xx",
        )
        == 30
    )
    assert value(fams, "muxi_http_requests_total", route="unmatched", status="4xx") == 30
    assert value(fams, "muxi_active_streams", transport="sse") == 0
    assert value(fams, "muxi_mcp_server_up", server="demo") == 1
    assert "muxi_memory_rows" in fams
    assert served["refused"] > 0
    assert value(fams, "muxi_rate_limited_total", route="/v1/me") == served["refused"]


def test_labels_stay_bounded(served: dict[str, Any]) -> None:
    fams = scrape(served)
    routes = {s.labels["route"] for s in fams["muxi_http_requests"].samples}
    assert not any("nope-" in r or "/no/such" in r for r in routes), routes
    text = json.dumps([s.labels for f in fams.values() for s in f.samples])
    assert "alice" not in text and '"u1"' not in text and "u29" not in text
    # 120 requests with distinct paths and users added a handful of series, not 120.
    assert len(fams["muxi_http_requests"].samples) < 20


def test_admin_key_only(served: dict[str, Any]) -> None:
    url = served["proc"].url + "/metrics"
    assert httpx.get(url).status_code == 401
    user = httpx.get(url, headers={"authorization": f"Bearer {served['user']}"})
    assert user.status_code == 403


def test_metrics_port_is_loopback_only(served: dict[str, Any]) -> None:
    port = served["metrics_port"]
    r = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert r.status_code == 200
    assert value(families(r.text), "muxi_turns_total", agent="other") == 1
    assert httpx.get(f"http://127.0.0.1:{port}/elsewhere").status_code == 404
    # Bound to 127.0.0.1 only, not the wildcard address: another loopback address is refused.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.2:{port}/metrics")
    assert f"127.0.0.1:{port}/metrics" in served["proc"].log()
