"""The host key: what starts a different host, and what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from muxi_cli.config.loader import locate_formation
from muxi_cli.host import key as hkey


def _key(formation: Path | None, env: dict[str, str], **kw: object) -> str:
    return hkey.host_key(formation, cwd=Path("/w"), environ=env, **kw)  # type: ignore[arg-type]


BASE = {"HOME": "/home/u", "PATH": "/usr/bin", "OPENAI_API_KEY": "sk-1"}


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_API_BASE",
        "OPENAI_ORG_ID",
        "OPENAI_ORGANIZATION",
        "OPENAI_PROJECT",
        "MUXI_USER_ID",
        "MUXI_HOME",
        "HOME",
        "PATH",
        "XDG_DATA_HOME",
        "PYTHON_KEYRING_BACKEND",
        "https_proxy",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ],
)
def test_variables_that_matter_change_the_key(name: str) -> None:
    assert _key(None, BASE) != _key(None, {**BASE, name: "other"})


@pytest.mark.parametrize(
    "name", ["MUXI_HOST", "MUXI_HOST_IDLE", "MUXI_VERBOSE", "MUXI_RUNTIME_DIR", "TERM", "PWD"]
)
def test_display_and_host_variables_do_not(name: str) -> None:
    assert _key(None, BASE) == _key(None, {**BASE, name: "x"})


def test_removing_a_variable_changes_the_key() -> None:
    assert _key(None, BASE) != _key(None, {k: v for k, v in BASE.items() if k != "OPENAI_API_KEY"})


def test_version_formation_and_builtin_cwd_are_in_the_key(tmp_path: Path) -> None:
    a = _key(tmp_path / "a.yaml", BASE)
    assert a != _key(tmp_path / "b.yaml", BASE)
    assert a != _key(tmp_path / "a.yaml", BASE, version="999.0")
    assert hkey.host_key(None, cwd=Path("/x"), environ=BASE) != hkey.host_key(
        None, cwd=Path("/y"), environ=BASE
    )


def test_the_key_holds_no_value() -> None:
    key = _key(None, {**BASE, "OPENAI_API_KEY": "sk-secret-value"})
    assert len(key) == 64 and "secret" not in key and hkey.host_id(key) == key[:16]


def test_resolve_config_follows_the_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert hkey.resolve_config(None) == locate_formation(None).path  # both None: built-in
    (tmp_path / "muxi.yaml").write_text("name: x\n")
    assert hkey.resolve_config(None) == locate_formation(None).path.resolve()  # type: ignore[union-attr]
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "muxi.yml").write_text("name: y\n")
    assert hkey.resolve_config("sub") == (sub / "muxi.yml").resolve()
    assert hkey.resolve_config("sub") == locate_formation("sub").path.resolve()  # type: ignore[union-attr]
    monkeypatch.setenv("MUXI_CONFIG", str(sub / "muxi.yml"))
    assert hkey.resolve_config(None) == (sub / "muxi.yml").resolve()


@pytest.mark.parametrize("value", ["off", "0", "false", "no", "OFF"])
def test_muxi_host_switch(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_HOST", value)
    assert hkey.switched_off_by_env() and not hkey.enabled(None)
    monkeypatch.setenv("MUXI_HOST", "on")
    assert not hkey.switched_off_by_env() and hkey.enabled(None)


def test_formation_host_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_HOST", "on")
    path = tmp_path / "muxi.yaml"
    path.write_text("name: x\nhost:\n  enabled: false\n  idle_timeout: 5\n")
    assert not hkey.enabled(path)
    assert hkey.idle_timeout(path) == 5
    monkeypatch.setenv("MUXI_HOST_IDLE", "2.5")
    assert hkey.idle_timeout(path) == 2.5
    path.write_text("name: x\n")
    assert hkey.enabled(path)
    monkeypatch.delenv("MUXI_HOST_IDLE")
    assert hkey.idle_timeout(path) == hkey.DEFAULT_IDLE


def test_the_schema_takes_the_host_key(tmp_path: Path) -> None:
    from muxi_cli.config.loader import load_formation
    from muxi_cli.errors import ConfigError

    path = tmp_path / "muxi.yaml"
    path.write_text("host:\n  enabled: false\n  idle_timeout: 30\n")
    host = load_formation(path).formation.host
    assert host.enabled is False and host.idle_timeout == 30
    path.write_text("host:\n  idle: 30\n")
    with pytest.raises(ConfigError, match="idle"):
        load_formation(path)
