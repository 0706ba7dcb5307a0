"""A real ``muxi serve`` on loopback for the security tests: keys, MCP servers, fake model.

:func:`deployment` starts the fake model server and ``muxi serve`` with one
admin key and two user keys (alice, bob) created beforehand, and stops both
whatever happens. The formation has three MCP servers (all the project's
demo server):

- ``demo``: used by the ``assistant`` agent, policy ``ask``;
- ``locked``: used by the ``assistant`` agent, policy ``deny``;
- ``loose``: attached to no agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.server.serveproc import ServeProcess

DEMO = str(Path(__file__).resolve().parent.parent / "mcp_servers" / "demo_server.py")


def _mcp(name: str, approval: str) -> str:
    return (
        f"  {name}:\n    command: {json.dumps(sys.executable)}\n"
        f"    args: [{json.dumps(DEMO)}, --name, {name}]\n    approval: {approval}\n"
    )


FORMATION = (
    "mcp_servers:\n"
    + _mcp("demo", "ask")
    + _mcp("locked", "deny")
    + _mcp("loose", "ask")
    + """agents:
  - name: assistant
    description: The security test agent
    memory: {enabled: false}
    mcp_servers: [demo, locked]
    tools:
      - builtin: calculator
        approval: ask
"""
)

#: The same without MCP servers (faster to start when a test needs none).
FORMATION_NO_MCP = """agents:
  - name: assistant
    description: The security test agent
    memory: {enabled: false}
    tools:
      - builtin: calculator
        approval: ask
"""


@dataclass
class Deployment:
    proc: ServeProcess
    llm: FakeLLM
    keys: KeyStore
    admin: str
    alice: str
    bob: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def ws_url(self) -> str:
        return "ws" + self.proc.url[4:] + "/v1/ws"

    @staticmethod
    def headers(key: str, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}", **extra}

    @staticmethod
    def key_id(key: str) -> str:
        return key.split("_")[1]

    def client(self, **kw: Any) -> httpx.Client:
        kw.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url, **kw)

    def wait_mcp_ready(self, names: tuple[str, ...] = ("demo", "locked", "loose")) -> None:
        """Poll until the named MCP servers are ready (bounded)."""

        def ready() -> bool:
            with self.client() as c:
                rows = c.get("/v1/mcp/servers", headers=self.headers(self.admin)).json()
            states = {r["name"]: r["state"] for r in rows}
            return all(states.get(n) == "ready" for n in names)

        wait_until(ready, 60, "the MCP servers did not become ready")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)


async def await_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def deployment(
    root: Path,
    extra_yaml: str = FORMATION,
    args: tuple[str, ...] = ("--rate", "0"),
    **env: str,
) -> Iterator[Deployment]:
    """``muxi serve`` over a fake model, with keys for admin, alice and bob."""
    llm = FakeLLM()
    proc: ServeProcess | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        config = root / "muxi.yaml"
        config.write_text(llm.formation_yaml(extra=extra_yaml), encoding="utf-8")
        home = root / "home"
        keys = KeyStore(home / "data" / "server_keys.json")
        _, admin = keys.create("admin", "admin")
        _, alice = keys.create("user", "alice")
        _, bob = keys.create("user", "bob")
        proc = ServeProcess(home, config, args=args, **env).start()
        yield Deployment(proc, llm, keys, admin, alice, bob)
    finally:
        if proc is not None:
            proc.stop()
        llm.close()
