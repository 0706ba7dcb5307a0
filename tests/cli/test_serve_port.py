"""``muxi serve`` on an address it cannot use: one clear error, no traceback, no keys."""

from __future__ import annotations

import socket
from pathlib import Path

from typer.testing import CliRunner

from muxi_cli.cli.app import app
from tests.net import free_port


def test_a_busy_port_is_a_usage_error(muxi_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in err
    assert "--port 0" in err
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not list(muxi_home.rglob("server_keys.json"))  # nothing created, nothing printed


def test_an_unknown_host_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "no-such-host.invalid", "--port", "8"])
    assert result.exit_code == 2
    assert "unknown host" in result.stderr and "--host 127.0.0.1" in result.stderr


def test_a_busy_or_shared_metrics_port_is_a_usage_error(muxi_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", "0", "--metrics-port", str(port)])
    assert result.exit_code == 2
    err = " ".join(result.stderr.split())
    assert f"--metrics-port: cannot listen on 127.0.0.1:{port}" in err
    assert "pick another --metrics-port" in err
    free = str(free_port())
    result = CliRunner().invoke(app, ["serve", "--port", free, "--metrics-port", free])
    assert result.exit_code == 2 and "is the API's port" in " ".join(result.stderr.split())
    assert not list(muxi_home.rglob("server_keys.json"))
