"""For real: ``muxi chat`` and ``muxi serve`` export its spans and GenAI metrics over OTLP/HTTP to
a receiver process on 127.0.0.1 (tests/otlpreceiver.py decodes the protobuf)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi, stopping
from tests.server.serveproc import ServeProcess

RECEIVER = Path(__file__).resolve().parents[1] / "otlpreceiver.py"


def lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The receiver's stdout lines, read on a thread (so each wait is bounded)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def receive(lines: queue.Queue[str]) -> list[dict[str, Any]]:
    """The receiver's records until it has had both a trace and a metrics export."""
    records: list[dict[str, Any]] = []
    while {r["path"] for r in records} != {"/v1/traces", "/v1/metrics"}:
        records.append(json.loads(lines.get(timeout=20)))
    return records


def receiver_formation(fake: FakeLLM, tmp_path: Path, port: int) -> Path:
    extra = (
        "host: {enabled: false}\n"
        f"telemetry: {{otlp_endpoint: 'http://127.0.0.1:{port}', service_name: muxi-e2e}}\n"
    )
    fake.script(Text("secret answer 5309"))
    return fake.write_formation(tmp_path, extra=extra)


def test_one_shot_chat_exports_to_an_otlp_receiver(fake_llm: FakeLLM, tmp_path: Path) -> None:
    receiver = subprocess.Popen([sys.executable, str(RECEIVER)], stdout=subprocess.PIPE, text=True)
    with stopping(receiver):
        lines = lines_of(receiver)
        port = int(lines.get(timeout=20).split()[1])
        receiver_formation(fake_llm, tmp_path, port)
        result = run_muxi("chat", "my secret 5309", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        records = receive(lines)  # the one-shot flushed before it exited
    spans = [s for r in records if r["path"] == "/v1/traces" for s in r["spans"]]
    root = next(s for s in spans if s["name"].startswith("invoke_agent "))
    assert root["service"] == "muxi-e2e" and root["scope"] == "muxi_cli"
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["parent_span_id"] == ""
    chat = next(s for s in spans if s["name"] == "chat fake-model")
    assert chat["parent_span_id"] == root["span_id"]
    assert chat["attributes"]["gen_ai.usage.output_tokens"] == 5
    assert "5309" not in json.dumps(spans)
    metrics = {m for r in records if r["path"] == "/v1/metrics" for m in r["metrics"]}
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"} <= metrics


CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.slow
def test_muxi_serve_exports_its_turns(fake_llm: FakeLLM, tmp_path: Path) -> None:
    receiver = subprocess.Popen([sys.executable, str(RECEIVER)], stdout=subprocess.PIPE, text=True)
    with stopping(receiver):
        lines = lines_of(receiver)
        port = int(lines.get(timeout=20).split()[1])
        config = receiver_formation(fake_llm, tmp_path, port)
        _, key = KeyStore(tmp_path / "home" / "data" / "server_keys.json").create(
            "admin", "ann7421"
        )
        with ServeProcess(tmp_path / "home", config) as server:
            reply = httpx.post(
                f"{server.url}/v1/chat",
                json={"message": "my secret 5309", "stream": False},
                headers={"authorization": f"Bearer {key}", "traceparent": CALLER},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            assert server.stop() == 0, server.log()  # stopping flushes the spans
        records = receive(lines)
    spans = [s for r in records if r["path"] == "/v1/traces" for s in r["spans"]]
    root = next(s for s in spans if s["name"].startswith("invoke_agent "))
    assert {s["parent_span_id"] for s in spans if s is not root} == {root["span_id"]}
    # The caller's trace context: the turn joins the caller's trace.
    assert {s["trace_id"] for s in spans} == {CALLER.split("-")[1]}
    assert root["parent_span_id"] == CALLER.split("-")[2]
    assert "5309" not in json.dumps(spans) and "ann7421" not in json.dumps(spans)
