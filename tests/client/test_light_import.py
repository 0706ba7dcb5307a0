"""``import muxi_cli.client`` stays light: no UI, CLI, store, SDK or server
framework (a fresh interpreter: the test process has everything loaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: What a script or notebook importing the client must not pay for.
HEAVY = (
    "textual",
    "typer",
    "click",
    "rich",
    "lancedb",
    "pyarrow",
    "openai",
    "anthropic",
    "mcp",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "muxi_cli.cli",
    "muxi_cli.tui",
    "muxi_cli.server",
    "muxi_cli.runtime.local",
)
#: Loaded on first use, not at import: httpx by the first request, websockets by
#: the first WebSocket turn.
LAZY = ("httpx", "websockets")

PROBE = """
import json, sys
from muxi_cli.client import API_VERSION, AsyncClient, Client, errors
c = AsyncClient("http://127.0.0.1:9", "muxi_x")
# (None entries are placeholders, not imports: see runtime/wire.skip_httpx_cli)
mods = [m for m, mod in sys.modules.items() if mod is not None]
print(json.dumps(sorted(m for m in mods if m.split(".")[0] in {names} or m in {names})))
"""


def loaded(names: tuple[str, ...]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(names=set(names))],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(out.stdout))


def test_the_client_imports_nothing_heavy() -> None:
    assert loaded(HEAVY) == []


def test_the_http_stack_waits_for_the_first_request() -> None:
    assert loaded(LAZY) == []
