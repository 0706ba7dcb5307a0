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
#: Not on the path to a local host either: its socket is spoken to by runtime/unixhttp
#: (ssl stays: asyncio imports it itself).
HTTP_STACK = ("httpx", "httpcore", "anyio", "h11", "sniffio", "websockets")


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


def heavy(modules: set[str], names: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in names))


def test_the_remote_chat_modules_import_nothing_heavy() -> None:
    modules = loaded(
        "import asyncio, muxi_cli.cli.app, muxi_cli.cli.chat, muxi_cli.runtime.remote\n"
        "from muxi_cli.runtime.client import ServerClient\n"
        "ServerClient('http://127.0.0.1:9', 'key').http()"  # a TCP server: the httpx client
    )
    assert "httpx" in modules
    assert heavy(modules) == []


def test_a_request_to_a_socket_loads_no_http_library() -> None:
    modules = loaded(
        "import asyncio\n"
        "from muxi_cli.errors import ConnectionFailedError\n"
        "from muxi_cli.runtime.client import ServerClient\n"
        "async def main():\n"
        "    async with ServerClient('unix:/nowhere/h.sock', 'key') as client:\n"
        "        try:\n"
        "            await client.request('GET', '/v1/me')\n"
        "        except ConnectionFailedError:\n"
        "            pass\n"
        "asyncio.run(main())"
    )
    assert "muxi_cli.runtime.unixhttp" in modules
    assert heavy(modules, HEAVY + HTTP_STACK) == []


def test_httpx_still_imports_without_its_cli() -> None:
    # The trick relies on httpx importing its CLI inside try/except ImportError.
    modules = loaded(
        "from muxi_cli.runtime.wire import skip_httpx_cli\n"
        "skip_httpx_cli()\n"
        "import httpx\n"
        "assert httpx.Client and httpx.AsyncHTTPTransport and callable(httpx.main)"
    )
    assert "httpx" in modules and "httpx._main" not in modules


async def run_muxi(uds_served: UdsServed, tmp_path: Path, *args: str) -> tuple[str, set[str]]:
    """``muxi ARGS`` as the shell runs it, through a profile on the served socket:
    its stdout and the modules it had imported at exit."""
    add_profile("host", f"unix:{uds_served.socket}")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(MUXI_PROFILE="host", MUXI_API_KEY=uds_served.alice)
    dump = tmp_path / "modules.json"
    code = (
        "import atexit, json, runpy, sys\n"
        f"atexit.register(lambda: open({str(dump)!r}, 'w').write("
        "json.dumps([m for m, v in sys.modules.items() if v])))\n"
        f"sys.argv = ['muxi', *{list(args)!r}]\n"
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
    return out.decode(), set(json.loads(dump.read_text()))


async def test_a_warm_muxi_chat_imports_nothing_heavy(
    uds_served: UdsServed, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(Text("lean"))
    out, modules = await run_muxi(uds_served, tmp_path, "chat", "hi", "-o", "text")
    assert out == "lean\n"
    assert heavy(modules, HEAVY + HTTP_STACK) == []


async def test_a_warm_memory_search_imports_no_validation(
    uds_served: UdsServed, tmp_path: Path
) -> None:
    # --limit has a minimum: fastparams checks it, typer's pydantic adapter stays unloaded.
    await uds_served.runtime.memory_add("Alice drinks green tea", user_id="alice")
    out, modules = await run_muxi(uds_served, tmp_path, "memory", "search", "tea", "-n", "3")
    assert "Alice drinks green tea" in out
    # In a pipe the table is printed without rich's console (cli/plainout): only its line breaker.
    assert heavy(modules, tuple(h for h in HEAVY if h != "rich") + HTTP_STACK) == []
    assert heavy(modules, ("rich.console", "rich.table", "rich.markup", "rich.text")) == []


#: Not on a local host's path either: it reads no profile file and no keyring.
PROFILE_ONLY = ("yaml", "keyring", "muxi_cli.secrets", "muxi_cli.redact")


async def test_a_turn_through_a_local_host_loads_no_profile_machinery(
    uds_served: UdsServed, fake_llm: FakeLLM
) -> None:
    """What ``muxi chat`` runs through a warm host (cli/context.runtime_for): the
    command modules, the profile choice, and a RemoteRuntime on the host's socket."""
    fake_llm.script(Text("lean"))
    env = {k: v for k, v in os.environ.items() if k not in ("MUXI_PROFILE", "MUXI_API_KEY")}
    code = (
        "import asyncio, json, sys\n"
        "import muxi_cli.cli.app, muxi_cli.cli.chat\n"
        "from muxi_cli.protocol.records import ChatRequest\n"
        "from muxi_cli.runtime.factory import selected_profile\n"
        "from muxi_cli.runtime.remote import RemoteRuntime\n"
        "assert selected_profile(None) == 'local'\n"
        "async def main():\n"
        f"    rt = RemoteRuntime('http://muxi-host', {uds_served.alice!r}, "
        f"uds={str(uds_served.socket)!r})\n"
        "    try:\n"
        "        await rt.whoami()\n"
        "        async with await rt.chat(ChatRequest(message='hi')) as turn:\n"
        "            return [e.type async for e in turn.events()]\n"
        "    finally:\n"
        "        await rt.aclose()\n"
        "types = asyncio.run(main())\n"
        "print(json.dumps([types, [m for m, v in sys.modules.items() if v]]))"
    )
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
    types, modules = json.loads(out.decode().strip().splitlines()[-1])
    assert types[-1] == "run.completed"
    assert heavy(set(modules), HEAVY + HTTP_STACK + PROFILE_ONLY) == []


def test_the_remote_media_limit_is_the_stores() -> None:
    from muxi_cli.runtime.remote import RemoteRuntime
    from muxi_cli.stores.media import DEFAULT_MAX_BYTES

    assert RemoteRuntime("http://x", None).media_max_bytes == DEFAULT_MAX_BYTES
