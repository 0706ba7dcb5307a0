"""``muxi mcp login|logout NAME`` with a remote profile: through the server's routes.

The server runs the OAuth flow for the profile's user (docs/server.md, "OAuth
logins for MCP servers"): this side prints the authorization URL, opens a
browser when it can, and waits until the server reports the login finished
(the browser went back to the server), or takes the address the browser
ended on, pasted here, and hands it to the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from muxi_cli.errors import MuxiError

#: How often the login's state is asked while the browser is out.
POLL_INTERVAL = 0.5


async def _client(profile: str) -> Any:
    from muxi_cli.runtime.remote import RemoteRuntime  # deferred: only remote profiles

    runtime = await RemoteRuntime.open_profile(profile)
    return runtime._server  # the runtime's HTTP client (muxi_cli/runtime/client.py)


async def login(
    profile: str,
    name: str,
    *,
    show_url: Callable[[str], None],
    open_browser: Callable[[str], bool] | None,
    paste: Callable[[], Awaitable[str]] | None,
    timeout: float = 300.0,
) -> str:
    """Sign the profile's user in to server ``name``; returns the server's auth state."""
    server = await _client(profile)
    path = f"/v1/mcp/servers/{quote(name, safe='')}/login"
    started = await server.request("POST", path)
    url = str(started["authorization_url"])
    show_url(url)
    if open_browser is not None:
        await asyncio.to_thread(open_browser, url)

    async def polled() -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = await server.request("GET", path)
            if state.get("login") not in ("pending", None):
                return str(state["login"])
            await asyncio.sleep(POLL_INTERVAL)
        raise TimeoutError(f"no authorization arrived within {timeout:g}s")

    async def pasted() -> str:
        assert paste is not None
        redirect = await paste()
        done = await server.request("POST", f"{path}/complete", json_body={"redirect": redirect})
        return str(done["login"])

    waiters = [asyncio.ensure_future(polled())]
    if paste is not None:
        waiters.append(asyncio.ensure_future(pasted()))
    try:
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    outcome = next(iter(done)).result()
    if outcome != "signed in":
        raise MuxiError(f"the login to {name!r} did not succeed: {outcome}")
    state = await server.request("GET", path)
    return str(state.get("auth") or "oauth: signed in")


async def logout(profile: str, name: str) -> bool:
    server = await _client(profile)
    done = await server.request("DELETE", f"/v1/mcp/servers/{quote(name, safe='')}/login")
    return bool(done.get("removed"))
