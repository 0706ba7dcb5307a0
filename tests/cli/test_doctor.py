"""``muxi doctor``: the checks, the table, the exit code."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli import secrets
from muxi_cli.cli.app import app
from tests.fakellm import FakeLLM
from tests.net import free_port


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")


def checks(*args: str) -> tuple[int, dict[str, dict[str, str]]]:
    result = CliRunner().invoke(app, ["doctor", "--json", *args])
    data = json.loads(result.stdout)
    assert data["ok"] is (result.exit_code == 0)
    return result.exit_code, {c["name"]: c for c in data["checks"]}


def test_no_provider_fails_with_a_fix() -> None:
    code, by_name = checks()
    assert code == 1
    assert by_name["providers"]["status"] == "fail"
    assert "muxi keys set" in by_name["providers"]["fix"]
    assert by_name["python"]["status"] == "ok"
    assert by_name["config"]["status"] == "ok"
    assert by_name["ollama"]["status"] == "skip"  # MUXI_NO_OLLAMA_PROBE=1 in tests
    # Local servers the formation does not name are listed, never counted as usable.
    for name in ("ollama", "lmstudio", "vllm", "llama-cpp"):
        assert by_name[f"provider {name}"]["status"] == "info"
    assert by_name["config dir"]["status"] == "ok" and by_name["data dir"]["status"] == "ok"


def test_one_key_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets.set_secret("provider:anthropic", "sk-ant-0123456789")
    code, by_name = checks()
    assert code == 0
    assert by_name["provider anthropic"]["status"] == "ok"
    assert "keyring" in by_name["provider anthropic"]["detail"]
    assert "0123456789" not in json.dumps(by_name)
    assert by_name["provider openai"]["status"] == "info"
    assert "providers" not in by_name


def test_a_used_provider_without_key_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-0123456789")
    Path("muxi.yaml").write_text("default_model: openai/gpt-4o-mini\n")
    code, by_name = checks()
    assert code == 0
    assert by_name["provider openai"]["status"] == "warn"
    assert "OPENAI_API_KEY" in by_name["provider openai"]["fix"]
    assert by_name["provider anthropic"]["detail"].startswith("key sk-a")


def test_invalid_config_fails() -> None:
    Path("muxi.yaml").write_text("agents:\n  - name: a\n    modle: x\n")
    code, by_name = checks()
    assert code == 1
    assert by_name["config"]["status"] == "fail"
    assert "did you mean 'model'" in by_name["config"]["detail"]


def test_mcp_commands_are_looked_up_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-0123456789")
    tool = tmp_path / "bin" / "my-mcp-server"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}:/usr/bin:/bin")
    Path("muxi.yaml").write_text(
        "mcp_servers:\n"
        "  good: {command: my-mcp-server}\n"
        "  missing: {command: no-such-mcp-server-xyz}\n"
        "  remote: {url: 'http://127.0.0.1:9/mcp'}\n"
        "  off: {command: also-missing, enabled: false}\n"
    )
    code, by_name = checks()
    assert code == 1
    assert by_name["mcp good"]["status"] == "ok" and str(tool) in by_name["mcp good"]["detail"]
    assert by_name["mcp missing"]["status"] == "fail"
    assert "mcp_servers.missing.command" in by_name["mcp missing"]["fix"]
    assert by_name["mcp remote"]["status"] == "info"
    assert by_name["mcp off"]["status"] == "skip"


def test_file_fallback_for_secrets_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_SECRETS_FILE", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-0123456789")
    code, by_name = checks()
    assert code == 0
    assert by_name["keyring"]["status"] == "warn"
    assert "0600" in by_name["keyring"]["detail"]


def test_unwritable_data_dir_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-0123456789")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("MUXI_HOME", str(blocker))
    code, by_name = checks()
    assert code == 1
    assert by_name["data dir"]["status"] == "fail"
    assert "MUXI_HOME" in by_name["data dir"]["fix"]


@pytest.fixture
def fake_ollama() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"models": [{"name": "llama3.2:latest"}]}).encode()
            self.send_response(200 if self.path == "/api/tags" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_reachable_ollama_counts_as_a_provider(
    monkeypatch: pytest.MonkeyPatch, fake_ollama: str
) -> None:
    monkeypatch.delenv("MUXI_NO_OLLAMA_PROBE")
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama)
    code, by_name = checks()
    assert code == 0
    assert by_name["ollama"]["status"] == "ok"
    assert "llama3.2:latest" in by_name["ollama"]["detail"]


def test_unreachable_ollama_is_only_information(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUXI_NO_OLLAMA_PROBE")
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("OPENAI_API_KEY", "sk-0123456789")
    code, by_name = checks()
    assert code == 0
    assert by_name["ollama"]["status"] == "info"


def test_table_output(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "muxi doctor" in result.stdout
    for name in ("python", "config", "provider anthropic", "keyring", "data dir", "providers"):
        assert name in result.stdout
    assert "problem(s) to fix" in result.stderr
    monkeypatch.setenv("OPENAI_API_KEY", "sk-0123456789")
    ok = CliRunner().invoke(app, ["doctor"])
    assert ok.exit_code == 0
    assert "all required checks passed" in ok.stderr


def test_unknown_provider_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-0123456789")
    Path("muxi.yaml").write_text("default_model: nonesuch/llama-3.3\n")
    code, by_name = checks()
    assert code == 0  # openai still works
    assert by_name["provider nonesuch"]["status"] == "warn"
    assert "providers.nonesuch" in by_name["provider nonesuch"]["fix"]


def test_a_used_table_provider_without_its_key_says_which_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-0123456789")
    Path("muxi.yaml").write_text("default_model: groq/llama-3.3-70b-versatile\n")
    code, by_name = checks()
    assert code == 0  # openai still works
    assert by_name["provider groq"]["status"] == "warn"
    assert "GROQ_API_KEY" in by_name["provider groq"]["fix"]
    assert "muxi keys set groq" in by_name["provider groq"]["fix"]


def test_local_declared_server_needs_no_key_and_is_probed(fake_llm: FakeLLM) -> None:
    fake_llm.models = ["smollm2-135m", "qwen3"]
    Path("muxi.yaml").write_text(
        "default_model: local/smollm2-135m\nproviders:\n"
        f"  local: {{type: openai, base_url: '{fake_llm.openai_base_url}'}}\n"
    )
    code, by_name = checks()
    assert code == 0
    row = by_name["provider local"]
    assert row["status"] == "ok"
    assert "no key needed" in row["detail"]
    assert "2 models: smollm2-135m, qwen3" in row["detail"]


def test_local_server_that_does_not_listen_is_a_warning() -> None:
    """It used to say "ok" because a local server needs no key."""
    port = free_port()
    Path("muxi.yaml").write_text(
        "default_model: local/llama\nproviders:\n"
        f"  local: {{type: openai, base_url: 'http://127.0.0.1:{port}/v1'}}\n"
    )
    _code, by_name = checks()
    row = by_name["provider local"]
    assert row["status"] == "warn"
    assert "not reachable" in row["detail"]
    assert "providers.local.base_url" in row["fix"]


def test_media_tools_are_checked_and_never_fail_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-1234567890")
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))  # no espeak-ng
    code, by_name = checks()
    assert code == 0
    assert by_name["ocr"]["status"] == "ok"
    assert by_name["ffmpeg"]["status"] == "ok" and "ffmpeg" in by_name["ffmpeg"]["detail"]
    assert by_name["speech"]["status"] == "info"
    assert "espeak-ng" in by_name["speech"]["fix"]
    assert by_name["transcription"]["status"] == "info"

    (tmp_path / "muxi.yaml").write_text(
        "audio:\n  transcribe: openai/whisper-1\n  speech: openai/tts-1\n"
    )
    monkeypatch.setenv("MUXI_CONFIG", str(tmp_path / "muxi.yaml"))
    code, by_name = checks()
    assert by_name["speech"]["status"] == "ok" and "openai/tts-1" in by_name["speech"]["detail"]
    assert by_name["transcription"]["detail"] == "openai/whisper-1"
