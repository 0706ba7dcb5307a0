"""OAuth inside one long-lived connection (in-process, as the chat app and
`muxi serve` hold them): a login with a headless "browser", a refresh while
connected, and a grant revoked under an open connection."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from muxi_cli.config.schema import MCPServerConfig
from muxi_cli.tools import mcp_oauth, mcp_tokens
from tests.tools.support import ManagerFactory, by_name
from tests.tools.test_mcp_oauth import oauth_base

__all__ = ["oauth_base"]


def _browser(url: str) -> bool:
    """A person who approves at once: follow the redirects to muxi's loopback."""
    with urllib.request.urlopen(url, timeout=30) as page:
        return b"signed in" in page.read()


def _post(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=10)


def _stats(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/admin/stats", timeout=10) as resp:
        return dict(json.load(resp))


async def test_long_lived_connection(
    make_manager: ManagerFactory, oauth_base: str, tmp_path: Path
) -> None:
    config = MCPServerConfig(url=f"{oauth_base}/mcp")
    shown: list[str] = []
    result = await mcp_oauth.login(
        "secure", config, show_url=shown.append, open_browser=_browser, timeout=60
    )
    assert result.tool_count == 2 and len(shown) == 1
    assert mcp_tokens.stored_state("secure", config.url or "").state == "signed in"

    manager = make_manager(
        {
            "mcp_servers": {"secure": {"url": config.url, "approval": "allow"}},
            "agents": [{"name": "a", "mcp_servers": ["secure"]}],
        }
    )
    await manager.wait_ready()
    [status] = manager.statuses()
    assert (status.state, status.auth) == ("ready", "oauth: signed in"), status.error
    tools = by_name(await manager.tools_for(manager.formation.agents[0]))
    assert (await manager.call(tools["secure__whoami"], {})).content == "alice"

    # The grant is revoked while the connection is open: the next call says a
    # login is due (no browser opens), and the state says so too.
    _post(f"{oauth_base}/admin/revoke")
    outcome = await manager.call(tools["secure__whoami"], {})
    assert not outcome.ok
    assert "login required" in outcome.content, outcome.content
    [status] = manager.statuses()
    assert status.auth == "oauth: login required"

    # After a new login, the next call works again on its own.
    await mcp_oauth.login(
        "secure", config, show_url=shown.append, open_browser=_browser, timeout=60
    )
    assert (await manager.call(tools["secure__whoami"], {})).content == "alice"
    # A new loopback port each login: the client registered for the old redirect
    # address is replaced by a new registration (this server matches ports exactly).
    assert _stats(oauth_base)["registrations"] == 2
