"""TARGET parsing: formation server names, command lines, URLs; /mcp attach specs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.mcpdev.target import attach_spec, command_name, parse_env, parse_headers, parse_target

PY = sys.executable


def write_formation(path: Path) -> Path:
    path.write_text(
        "mcp_servers:\n"
        "  time:\n"
        f"    command: {PY}\n"
        "    args: [-m, mcp_server_time]\n"
        "    env: {TZ: UTC}\n"
        "  remote:\n"
        "    url: http://127.0.0.1:9/mcp\n"
        "agents:\n"
        "  - name: assistant\n"
        "    mcp_servers: [time]\n",
        encoding="utf-8",
    )
    return path


def test_url_targets() -> None:
    http = parse_target(["http://127.0.0.1:8000/mcp"], headers={"X-Key": "k"})
    assert (http.kind, http.transport, http.name) == ("url", "http", "127.0.0.1-8000")
    assert http.config.headers == {"X-Key": "k"}
    sse = parse_target(["https://example.com/sse"])
    assert sse.transport == "sse"


def test_bad_urls_say_what_was_expected() -> None:
    with pytest.raises(UsageError, match="only http:// and https://") as err:
        parse_target(["ws://127.0.0.1/mcp"])
    assert "command after `--`" in (err.value.hint or "")
    with pytest.raises(UsageError, match="not a usable server URL"):
        parse_target(["http://"])


def test_formation_server_name(tmp_path: Path) -> None:
    config = write_formation(tmp_path / "muxi.yaml")
    target = parse_target(["time"], config_path=str(config), env={"EXTRA": "1"})
    assert target.kind == "server" and target.transport == "stdio"
    assert target.config.args == ["-m", "mcp_server_time"]
    assert target.config.env == {"TZ": "UTC", "EXTRA": "1"}
    assert target.base_dir == tmp_path
    remote = parse_target(["remote"], config_path=str(config))
    assert remote.transport == "http"


def test_unknown_name_lists_the_forms_and_servers(tmp_path: Path) -> None:
    config = write_formation(tmp_path / "muxi.yaml")
    with pytest.raises(NotFoundError) as err:
        parse_target(["tiem"], config_path=str(config))
    hint = err.value.hint or ""
    assert "a command after `--`" in hint and "a URL" in hint
    assert "time, remote" in hint or "remote, time" in hint


def test_command_line(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text("print('hi')\n")
    target = parse_target([PY, "server.py", "--flag"], cwd=tmp_path, env={"A": "b"})
    assert target.kind == "command"
    assert target.config.command == PY and target.config.args == ["server.py", "--flag"]
    assert target.config.cwd == str(tmp_path) and target.config.env == {"A": "b"}
    assert target.name == tmp_path.name  # "server.py" says little: its folder names it
    single = parse_target([PY], after_dashes=True)
    assert single.kind == "command"


def test_command_not_found() -> None:
    with pytest.raises(NotFoundError, match="command not found: no-such-mcp-server"):
        parse_target(["no-such-mcp-server", "--stdio"])
    with pytest.raises(NotFoundError, match="command not found"):
        parse_target(["./missing/server.sh", "x"])


def test_headers_only_for_urls() -> None:
    with pytest.raises(UsageError, match="URL targets only"):
        parse_target([PY, "-V"], headers={"A": "b"})


def test_command_names() -> None:
    assert command_name([PY, "-m", "mcp_server_time"]) == "mcp_server_time"
    assert command_name(["python", "weather.py"]) == "weather"
    assert (
        command_name(["npx", "-y", "@modelcontextprotocol/server-everything"])
        == "server-everything"
    )
    assert command_name(["/usr/local/bin/my-server", "--stdio"]) == "my-server"


def test_env_and_header_options() -> None:
    assert parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    assert parse_headers(["Authorization: Bearer t", "X-A=b"]) == {
        "Authorization": "Bearer t",
        "X-A": "b",
    }
    with pytest.raises(UsageError):
        parse_env(["nope"])
    with pytest.raises(UsageError):
        parse_headers(["nope"])


def test_env_and_header_values_expand_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret can stay out of argv: '${TOKEN}' reaches muxi unexpanded and is filled in."""
    monkeypatch.setenv("MUXI_TEST_TOKEN", "s3cret")
    assert parse_headers(["Authorization: Bearer ${MUXI_TEST_TOKEN}"]) == {
        "Authorization": "Bearer s3cret"
    }
    assert parse_env(["API_KEY=${MUXI_TEST_TOKEN}", "PRICE=$$5", "LVL=${NOPE_X:-info}"]) == {
        "API_KEY": "s3cret",
        "PRICE": "$5",
        "LVL": "info",
    }
    monkeypatch.delenv("MUXI_TEST_UNSET", raising=False)
    with pytest.raises(UsageError, match="MUXI_TEST_UNSET"):
        parse_headers(["Authorization: Bearer ${MUXI_TEST_UNSET}"])


def test_attach_spec_command(tmp_path: Path) -> None:
    (tmp_path / "srv.py").write_text("")
    name, server = attach_spec(f"{PY} srv.py --verbose", cwd=tmp_path)
    assert name == "srv"
    assert server == {"command": PY, "args": ["srv.py", "--verbose"], "cwd": str(tmp_path)}
    name, server = attach_spec(f"--name time -- {PY} -m mcp_server_time")
    assert name == "time" and server["args"] == ["-m", "mcp_server_time"]
    # The pair is what Runtime.mcp_attach validates.
    from muxi_cli.config.schema import MCPServerConfig

    assert MCPServerConfig.model_validate(server).transport == "stdio"


def test_attach_spec_relative_command_is_made_absolute(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "serve.sh"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    _, server = attach_spec("bin/serve.sh", cwd=tmp_path)
    assert server["command"] == str(script) and os.path.isabs(server["command"])


def test_attach_spec_url_and_errors() -> None:
    assert attach_spec("http://127.0.0.1:8123/mcp") == (
        "127.0.0.1-8123",
        {"url": "http://127.0.0.1:8123/mcp"},
    )
    assert attach_spec("--name=docs https://example.com/sse")[0] == "docs"
    with pytest.raises(UsageError, match="nothing to attach"):
        attach_spec("")
    with pytest.raises(UsageError, match="invalid server name"):
        attach_spec(f"--name 'bad name' {PY}")
    with pytest.raises(UsageError, match="cannot parse"):
        attach_spec("python 'unclosed")
    with pytest.raises(NotFoundError):
        attach_spec("no-such-mcp-server")
