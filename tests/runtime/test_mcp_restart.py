"""Retrying an MCP server that failed to start: locally, and over `muxi serve` (admin only)."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import pytest

from muxi_cli.errors import ForbiddenError, NotFoundError
from muxi_cli.protocol.records import ServerInfo
from muxi_cli.runtime.base import Runtime
from muxi_cli.runtime.local import LocalRuntime
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.server.serveproc import ServeProcess

NEEDS_TOKEN = str(Path(__file__).resolve().parent.parent / "mcp_servers" / "needs_token.py")


def formation(fake_llm: FakeLLM, tmp_path: Path) -> tuple[Path, Path]:
    token = tmp_path / "token"
    extra = f"""
mcp_servers:
  weather:
    command: {sys.executable}
    args: [{NEEDS_TOKEN}, {token}]
"""
    config = tmp_path / "muxi.yaml"
    config.write_text(fake_llm.formation_yaml(extra=extra))
    return config, token


async def settled(runtime: Runtime, name: str) -> ServerInfo:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        found = {s.name: s for s in await runtime.mcp_servers()}
        if name in found and found[name].state in ("ready", "failed"):
            return found[name]
        assert loop.time() < deadline, found
        await asyncio.sleep(0.1)


async def _fail_then_retry(runtime: Runtime, token: Path) -> None:
    first = await settled(runtime, "weather")
    assert first.state == "failed"
    error = first.error or ""
    assert error.startswith("exited during startup")
    assert f"command: {shlex.join([sys.executable, NEEDS_TOKEN, str(token)])}" in error
    assert "needs_token: no token file" in error  # the stderr tail
    token.write_text("t0ken")
    info = await runtime.mcp_restart("weather")
    assert info.name == "weather" and info.state in ("starting", "ready")
    again = await settled(runtime, "weather")
    assert again.state == "ready" and again.tool_count > 0 and again.error is None
    with pytest.raises(NotFoundError):
        await runtime.mcp_restart("nosuch")


async def test_restart_local(fake_llm: FakeLLM, tmp_path: Path) -> None:
    config, token = formation(fake_llm, tmp_path)
    runtime = await LocalRuntime.open(config_path=config)
    try:
        await _fail_then_retry(runtime, token)
    finally:
        await runtime.aclose()


async def test_restart_remote_needs_admin(fake_llm: FakeLLM, tmp_path: Path) -> None:
    home = tmp_path / "serve-home"
    config, token = formation(fake_llm, tmp_path)
    store = KeyStore(home / "data" / "server_keys.json")
    _, admin = store.create("admin", "root")
    _, user = store.create("user", "alice")
    proc = ServeProcess(home, config).start()
    try:
        as_user = RemoteRuntime(proc.url, user, label="user")
        try:
            with pytest.raises(ForbiddenError):
                await as_user.mcp_restart("weather")
        finally:
            await as_user.aclose()
        as_admin = RemoteRuntime(proc.url, admin, label="admin")
        try:
            await _fail_then_retry(as_admin, token)
        finally:
            await as_admin.aclose()
    finally:
        assert proc.stop() == 0, proc.log()
