"""``muxi keys set|list|delete`` for provider keys."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli import secrets
from muxi_cli.cli import keys as keys_cmd
from muxi_cli.cli.app import app
from muxi_cli.providers import table

KEY = "sk-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_set_from_stdin_strips_and_stores() -> None:
    result = CliRunner().invoke(app, ["keys", "set", "openai"], input=f"  {KEY}\n")
    assert result.exit_code == 0, result.stderr
    assert secrets.get_secret("provider:openai") == KEY
    assert "keyring" in result.stderr
    assert secrets.mask(KEY) in result.stderr
    assert KEY not in result.stdout + result.stderr


def test_set_never_takes_the_key_from_argv() -> None:
    result = CliRunner().invoke(app, ["keys", "set", "openai", KEY], input="")
    assert result.exit_code == 2
    assert secrets.get_secret("provider:openai") is None
    assert KEY not in result.stdout


def test_set_rejects_empty_and_multiline_input() -> None:
    empty = CliRunner().invoke(app, ["keys", "set", "anthropic"], input="  \n")
    assert empty.exit_code == 2
    assert "no key given" in empty.stderr
    two = CliRunner().invoke(app, ["keys", "set", "anthropic"], input="a-key\nanother\n")
    assert two.exit_code == 2
    assert secrets.get_secret("provider:anthropic") is None


def test_set_rejects_a_bad_provider_name() -> None:
    result = CliRunner().invoke(app, ["keys", "set", "../etc"], input=KEY)
    assert result.exit_code == 2
    assert "invalid provider name" in result.stderr


def test_terminal_uses_a_hidden_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    def fake_prompt(text: str, **kwargs: object) -> str:
        calls.append({"text": text, **kwargs})
        return f" {KEY} "

    from muxi_cli.cli.secret_input import read_secret

    monkeypatch.setattr("sys.stdin", Tty(""))
    monkeypatch.setattr("typer.prompt", fake_prompt)
    assert read_secret("openai API key", "muxi keys set openai") == KEY
    assert calls and calls[0]["hide_input"] is True


def test_list_shows_masked_keys_and_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-1234567890")
    secrets.set_secret("provider:openai", KEY)
    Path("muxi.yaml").write_text("default_model: groq/llama-3.3\n")
    result = CliRunner().invoke(app, ["keys", "list"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert KEY not in out and "sk-ant-env-1234567890" not in out
    assert secrets.mask(KEY) in out
    assert "env ANTHROPIC_API_KEY" in out and "keyring" in out
    assert "groq" in out and "not set" in out and "GROQ_API_KEY" in out

    as_json = CliRunner().invoke(app, ["keys", "list", "--json"])
    rows = {row["name"]: row for row in json.loads(as_json.stdout)["providers"]}
    assert rows["openai"] == {
        **rows["openai"],
        "set": True,
        "source": "keyring",
        "key": secrets.mask(KEY),
    }
    assert rows["anthropic"]["source"] == "env ANTHROPIC_API_KEY"
    assert rows["groq"]["set"] is False
    assert KEY not in as_json.stdout


def test_list_works_with_a_broken_formation() -> None:
    Path("muxi.yaml").write_text("agents: [\n")
    result = CliRunner().invoke(app, ["keys", "list", "--json"])
    assert result.exit_code == 0
    names = [r["name"] for r in json.loads(result.stdout)["providers"]]
    assert names == table.names()  # the provider table, without the formation's


def test_list_sections_are_extensible(monkeypatch: pytest.MonkeyPatch) -> None:
    sections = [
        *keys_cmd.LIST_SECTIONS,
        ("server_keys", lambda ctx: [{"id": "k1", "role": "admin"}]),
    ]
    monkeypatch.setattr(keys_cmd, "LIST_SECTIONS", sections)
    result = CliRunner().invoke(app, ["keys", "list", "--json"])
    assert json.loads(result.stdout)["server_keys"] == [{"id": "k1", "role": "admin"}]
    table = CliRunner().invoke(app, ["keys", "list"])
    assert "Server keys" in table.stdout and "k1" in table.stdout


def test_delete() -> None:
    secrets.set_secret("provider:openai", KEY)
    result = CliRunner().invoke(app, ["keys", "delete", "openai"])
    assert result.exit_code == 0, result.stderr
    assert secrets.get_secret("provider:openai") is None
    again = CliRunner().invoke(app, ["keys", "delete", "openai"])
    assert again.exit_code == 2
    assert "no stored key" in again.stderr


def test_file_fallback_is_announced(monkeypatch: pytest.MonkeyPatch, muxi_home: Path) -> None:
    monkeypatch.setenv("MUXI_SECRETS_FILE", "1")
    result = CliRunner().invoke(app, ["keys", "set", "openai"], input=KEY)
    assert result.exit_code == 0, result.stderr
    assert "file" in result.stderr and "muxi doctor" in result.stderr
    path = muxi_home / "config" / "secrets.json"
    assert path.stat().st_mode & 0o777 == 0o600
    listed = json.loads(CliRunner().invoke(app, ["keys", "list", "--json"]).stdout)
    assert {r["name"]: r for r in listed["providers"]}["openai"]["source"] == "file"


def test_set_warns_about_a_likely_typo() -> None:
    result = CliRunner().invoke(app, ["keys", "set", "antropic"], input=KEY)
    assert result.exit_code == 0
    assert "did you mean 'anthropic'" in result.stderr
    ok = CliRunner().invoke(app, ["keys", "set", "anthropic"], input=KEY)
    assert "warning" not in ok.stderr
