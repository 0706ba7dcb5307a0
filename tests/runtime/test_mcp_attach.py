"""Attaching an MCP server to a running runtime, locally and over `muxi serve`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from muxi_cli.errors import ConfigError, ForbiddenError, NotFoundError
from muxi_cli.runtime.base import Runtime
from muxi_cli.runtime.local import LocalRuntime
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.server.serveproc import ServeProcess

DEMO = str(Path(__file__).resolve().parent.parent / "mcp_servers" / "demo_server.py")


async def _attach_and_detach(runtime: Runtime) -> None:
    info = await runtime.mcp_attach("demo", {"command": sys.executable, "args": [DEMO]})
    assert info.name == "demo"
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        states = {s.name: s.state for s in await runtime.mcp_servers()}
        if states.get("demo") in ("ready", "failed"):
            break
        assert asyncio.get_running_loop().time() < deadline, states
        await asyncio.sleep(0.1)
    assert states["demo"] == "ready"
    tools = await runtime.tools(agent="assistant")
    assert "demo__echo" in [t.name for t in tools]
    # Resources and prompts: listed (with their server) and usable.
    resources = await runtime.mcp_resources()
    assert {"server": "demo", "uri": "demo://readme"}.items() <= next(
        r for r in resources if r["uri"] == "demo://readme"
    ).items()
    text = await runtime.mcp_read_resource("demo", "demo://readme")
    assert text == "demo readme: hello from the demo server"
    prompts = await runtime.mcp_prompts("demo")
    assert [p["name"] for p in prompts] == ["greet"] and prompts[0]["server"] == "demo"
    rendered = await runtime.mcp_get_prompt("demo", "greet", {"who": "Ada"})
    assert "Please greet Ada warmly." in rendered
    with pytest.raises(NotFoundError):
        await runtime.mcp_read_resource("nosuch", "demo://readme")
    await runtime.mcp_detach("demo")
    assert "demo" not in [s.name for s in await runtime.mcp_servers()]
    assert "demo__echo" not in [t.name for t in await runtime.tools(agent="assistant")]
    with pytest.raises(NotFoundError):
        await runtime.mcp_detach("demo")


async def test_attach_local(fake_llm: FakeLLM, tmp_path: Path) -> None:
    config = fake_llm.write_formation(tmp_path)
    runtime = await LocalRuntime.open(config_path=config)
    try:
        await _attach_and_detach(runtime)
        with pytest.raises(ConfigError):
            await runtime.mcp_attach("bad name!", {"command": "x"})
        with pytest.raises(ConfigError):
            await runtime.mcp_attach("both", {"command": "x", "url": "http://127.0.0.1:1/mcp"})
    finally:
        await runtime.aclose()


async def test_attach_remote_needs_admin(fake_llm: FakeLLM, tmp_path: Path) -> None:
    home = tmp_path / "serve-home"
    config = fake_llm.write_formation(tmp_path)
    store = KeyStore(home / "data" / "server_keys.json")
    _, admin = store.create("admin", "root")
    _, user = store.create("user", "alice")
    proc = ServeProcess(home, config).start()
    try:
        as_user = RemoteRuntime(proc.url, user, label="user")
        try:
            with pytest.raises(ForbiddenError):
                await as_user.mcp_attach("demo", {"command": sys.executable, "args": [DEMO]})
        finally:
            await as_user.aclose()
        as_admin = RemoteRuntime(proc.url, admin, label="admin")
        try:
            await _attach_and_detach(as_admin)
        finally:
            await as_admin.aclose()
    finally:
        assert proc.stop() == 0, proc.log()
