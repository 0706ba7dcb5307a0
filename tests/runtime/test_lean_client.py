"""The warm one-shot client stays lean: ``muxi chat`` through a remote runtime
imports no SDK, no store, no server, no pydantic, and not httpx's CLI.

Each check runs in a fresh interpreter (the test process has everything loaded).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

from muxi_cli.runtime.profiles import add_profile
from tests.fakellm import FakeLLM, Text
from tests.server.udsfixtures import UdsServed

#: Never on the remote chat path (SDKs, stores, the server, the local runtime, validation).
HEAVY = (
    "pydantic",
    "lancedb",
    "openai",
    "anthropic",
    "mcp",
    "muxi_cli.runtime.local",
    "muxi_cli.config.schema",
    "fastapi",
    "uvicorn",
    "starlette",
    # httpx's command-line tool and what it pulls in (see runtime/wire.skip_httpx_cli)
    "httpx._main",
    "pygments",
    "rich",
)


def loaded(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules ``code`` leaves imported in a fresh interpreter (real ones, not stubs)."""
    dump = "import sys, json; print(json.dumps([m for m, v in sys.modules.items() if v]))"
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{dump}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_the_remote_chat_modules_import_nothing_heavy() -> None:
    modules = loaded(
        "import asyncio, muxi_cli.cli.app, muxi_cli.cli.chat, muxi_cli.runtime.remote\n"
        "from muxi_cli.runtime.client import ServerClient\n"
        "ServerClient('unix:/nowhere.sock', 'key').http()"  # builds the httpx client
    )
    assert "httpx" in modules and "muxi_cli.runtime.unixhttp" in modules
    assert heavy(modules) == []


def test_httpx_still_imports_without_its_cli() -> None:
    # The trick relies on httpx importing its CLI inside try/except ImportError.
    modules = loaded(
        "from muxi_cli.runtime.wire import skip_httpx_cli\n"
        "skip_httpx_cli()\n"
        "import httpx\n"
        "assert httpx.Client and httpx.AsyncHTTPTransport and callable(httpx.main)"
    )
    assert "httpx" in modules and "httpx._main" not in modules


async def test_a_warm_muxi_chat_imports_nothing_heavy(
    uds_served: UdsServed, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(Text("lean"))
    add_profile("host", f"unix:{uds_served.socket}")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(MUXI_PROFILE="host", MUXI_API_KEY=uds_served.alice)
    # The whole command, as `muxi chat hi` runs it; the module list is taken at exit.
    dump = tmp_path / "modules.json"
    code = (
        "import atexit, json, runpy, sys\n"
        f"atexit.register(lambda: open({str(dump)!r}, 'w').write("
        "json.dumps([m for m, v in sys.modules.items() if v])))\n"
        "sys.argv = ['muxi', 'chat', 'hi', '-o', 'text']\n"
        "runpy.run_module('muxi_cli', run_name='__main__')"
    )
    # Awaited, not run: the server answers from this test's event loop.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, stdout=PIPE, stderr=PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out.decode() == "lean\n"
    assert heavy(set(json.loads(dump.read_text()))) == []


def test_the_remote_media_limit_is_the_stores() -> None:
    from muxi_cli.runtime.remote import RemoteRuntime
    from muxi_cli.stores.media import DEFAULT_MAX_BYTES

    assert RemoteRuntime("http://x", None).media_max_bytes == DEFAULT_MAX_BYTES
