"""The clients' MCP OAuth logins (``client.mcp``) against a real ``muxi serve``
whose formation has an OAuth-protected MCP server (tests/mcp_servers/oauth_server.py).

Before, the server's login routes (server/mcp_login_routes.py) had no client
methods: a script had to build the requests itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from muxi_cli.client import AsyncClient, Client, errors
from tests.security.support_server import Deployment, deployment
from tests.server.test_mcp_oauth_serve import _browse
from tests.tools.test_mcp_oauth import oauth_base

__all__ = ["oauth_base"]


@pytest.fixture
def served(tmp_path: Path, oauth_base: str) -> Iterator[Deployment]:
    extra = (
        f"mcp_servers:\n  secure:\n    url: {oauth_base}/mcp\n    approval: allow\n"
        "agents:\n  - name: assistant\n    memory: {enabled: false}\n"
        "    mcp_servers: [secure]\n"
    )
    with deployment(tmp_path / "d", extra) as dep:
        yield dep


async def test_login_in_the_browser_status_and_logout(served: Deployment) -> None:
    dep = served
    async with AsyncClient(dep.url, dep.alice) as c:
        status = await c.mcp.login_status("secure")
        assert (status["auth"], status["login"]) == ("oauth: not signed in", None)
        url = await c.mcp.login("secure")
        assert url.startswith("http://127.0.0.1:") and "state=" in url
        assert (await c.mcp.login_status("secure"))["login"] == "pending"
        # alice's browser: authorize, come back to muxi's callback, press Continue.
        page = _browse(url + "&user=alice", user_id="alice")
        assert "signed in to secure" in page.text
        status = await c.mcp.login_status("secure")
        assert (status["auth"], status["login"]) == ("oauth: signed in", "signed in")
        [row] = [s for s in await c.mcp.servers() if s["name"] == "secure"]
        assert row["auth"] == "oauth: signed in"
        assert await c.mcp.logout("secure") is True
        assert (await c.mcp.login_status("secure"))["auth"] == "oauth: not signed in"
        assert await c.mcp.logout("secure") is False  # nothing left to forget
    async with AsyncClient(dep.url, dep.bob) as bob:
        assert (await bob.mcp.login_status("secure"))["auth"] == "oauth: not signed in"


def test_paste_back_with_the_blocking_client(served: Deployment) -> None:
    dep = served
    with Client(dep.url, dep.bob) as c:
        url = c.mcp.login("secure")
        # A browser that cannot reach the server: the address it ended on, pasted.
        redirect = httpx.get(url + "&user=bob", follow_redirects=False, timeout=30).headers[
            "location"
        ]
        with Client(dep.url, dep.alice) as alice, pytest.raises(errors.BadRequest):
            alice.mcp.complete_login("secure", redirect)  # not alice's login
        done = c.mcp.complete_login("secure", redirect)
        assert (done["server"], done["login"], done["auth"]) == (
            "secure",
            "signed in",
            "oauth: signed in",
        )
        assert c.mcp.login_status("secure")["auth"] == "oauth: signed in"
        with pytest.raises(errors.NotFound):
            c.mcp.login("no-such-server")
