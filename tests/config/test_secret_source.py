"""Where a stored key is reported to come from is where it really is.

A key saved while no keyring worked lives in the 0600 secrets file. When a
keyring backend appears later (installing keyrings.alt did exactly that), the
key is still read from the file, and `muxi keys list` and `muxi doctor` must
say "file", not "keyring".
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from muxi_cli import secrets
from muxi_cli.cli.app import app
from muxi_cli.config.providers import provider_status
from muxi_cli.providers.keys import find_key


def _save_in_the_file(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """Store ``value`` while no keyring works, then let the (memory) keyring work again."""
    monkeypatch.setenv("MUXI_SECRETS_FILE", "1")
    assert secrets.set_secret(name, value).startswith("file")
    monkeypatch.delenv("MUXI_SECRETS_FILE")
    assert secrets.backend_name().startswith("keyring")


def test_a_key_in_the_file_is_reported_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    _save_in_the_file(monkeypatch, "provider:anthropic", "sk-ant-file-0123456789")
    assert secrets.find_secret("provider:anthropic") == ("sk-ant-file-0123456789", "file")
    assert find_key("anthropic") == ("sk-ant-file-0123456789", "file")
    assert provider_status("anthropic").source == "file"

    secrets.set_secret("provider:openai", "sk-oai-keyring-0123456789")
    assert secrets.find_secret("provider:openai") == ("sk-oai-keyring-0123456789", "keyring")
    assert provider_status("openai").source == "keyring"
    assert secrets.find_secret("provider:nobody") == (None, None)


def test_keys_list_and_doctor_say_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    _save_in_the_file(monkeypatch, "provider:anthropic", "sk-ant-file-0123456789")
    listed = CliRunner().invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    row = next(r for r in json.loads(listed.stdout)["providers"] if r["name"] == "anthropic")
    assert row["source"] == "file"

    doctor = CliRunner().invoke(app, ["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    detail = checks["provider anthropic"]["detail"]
    assert detail.endswith("from file") and "keyring" not in detail, detail
