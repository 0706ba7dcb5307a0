"""`muxi config validate` and unknown providers, `muxi init` next steps, `muxi doctor` and
profiles."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_validate_names_a_model_provider_that_is_not_declared(tmp_path: Path) -> None:
    Path("muxi.yaml").write_text(
        "default_model: local/llama3.2\n"
        "router: {model: cheap/mini}\n"
        "agents:\n  - name: a\n    model: local/other\n"
    )
    code, out, err = invoke("config", "validate")
    assert code == 2 and out == ""
    flat = " ".join(err.split())
    assert "default_model, agents[0].model: unknown model provider 'local'" in flat
    assert "router.model: unknown model provider 'cheap'" in flat
    assert "type: openai" in flat

    code, out, _ = invoke("config", "validate", "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "config_error"

    Path("muxi.yaml").write_text(
        "default_model: local/llama3.2\n"
        "providers:\n  local: {type: openai, base_url: 'http://127.0.0.1:9/v1'}\n"
    )
    code, out, err = invoke("config", "validate")
    assert code == 0, err
    assert "valid" in out


def test_validate_accepts_built_in_providers() -> None:
    Path("muxi.yaml").write_text(
        "default_model: anthropic/claude-sonnet-4-5\n"
        "router: {model: ollama/llama3.2}\n"
        "agents:\n  - name: a\n    model: openai/gpt-4o-mini\n"
    )
    code, _, err = invoke("config", "validate")
    assert code == 0, err


def test_init_next_steps_fit_the_chosen_provider() -> None:
    code, _, err = invoke("init", "--model", "local/llama3.2")
    assert code == 0, err
    flat = " ".join(err.split())
    assert "declare the provider" in flat and "local: {type: openai" in flat
    assert "muxi keys set anthropic" not in flat

    code, _, err = invoke("init", "--force", "--model", "openai/gpt-4o-mini")
    flat = " ".join(err.split())
    assert code == 0 and "muxi keys set openai" in flat and "OPENAI_API_KEY" in flat

    code, _, err = invoke("init", "--force", "--model", "ollama/llama3.2")
    assert code == 0 and "ollama pull llama3.2" in " ".join(err.split())


def test_doctor_reports_the_local_profile() -> None:
    code, out, _ = invoke("doctor", "--json")
    by_name = {c["name"]: c for c in json.loads(out)["checks"]}
    assert by_name["profile"]["status"] == "ok"
    assert by_name["profile"]["detail"].startswith("local")
    assert code == 1  # no provider here: the local profile needs one


def test_doctor_fails_on_an_unreachable_profile() -> None:
    from muxi_cli.runtime import profiles
    from tests.net import free_port

    profiles.add_profile("gone", f"http://127.0.0.1:{free_port()}")
    profiles.store_key("gone", "muxi_0000000000_not-a-real-key")
    code, out, _ = invoke("--profile", "gone", "doctor", "--json")
    assert code == 1
    by_name = {c["name"]: c for c in json.loads(out)["checks"]}
    assert by_name["profile"]["status"] == "fail"
    assert "gone" in by_name["profile"]["detail"]
    assert by_name["profile"]["fix"]
    assert "not-a-real-key" not in out


async def test_doctor_with_a_working_remote_profile_needs_no_local_provider(
    tmp_path: Path,
) -> None:
    from muxi_cli.runtime import profiles
    from muxi_cli.server.context import ServerSettings
    from muxi_cli.stores.server_keys import KeyStore
    from tests.server.conftest import start_server, stop_server
    from tests.server.fakeruntime import FakeRuntime

    keys = KeyStore(tmp_path / "server_keys.json")
    _, alice = keys.create("user", "alice")
    url, server, task = await start_server(FakeRuntime(), keys, ServerSettings(rate=0))
    try:
        profiles.add_profile("team", url)
        profiles.store_key("team", alice)
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["--profile", "team", "doctor", "--json"]
        )
    finally:
        await stop_server(server, task)
    data = json.loads(result.stdout)
    by_name = {c["name"]: c for c in data["checks"]}
    assert by_name["profile"]["status"] == "ok", by_name["profile"]
    assert "user key for user alice" in by_name["profile"]["detail"]
    assert by_name["providers"]["status"] == "info"
    assert "team" in by_name["providers"]["detail"]
    assert result.exit_code == 0 and data["ok"] is True
    assert alice not in result.stdout
