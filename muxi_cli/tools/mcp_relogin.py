"""A long-lived process notices a login made in another one.

`muxi mcp login NAME` runs in its own process and writes the keyring. The chat
app and the warm host keep their connections: one that failed for want of a
login offers no tools, so nothing would ever use it again. It is tried again
when the stored login of its server changed since it failed, so its tools are
offered as a new command would offer them. That costs one keyring read per use
of such a server while it waits for a login, and nothing for any other server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from muxi_cli import secrets
from muxi_cli.tools.mcp_client import LOGIN_DUE
from muxi_cli.tools.mcp_tokens import secret_name

if TYPE_CHECKING:
    from muxi_cli.tools.mcp_client import MCPConnection


def stored_login(conn: MCPConnection) -> str | None:
    """The keyring record of ``conn``'s tokens as it is now (compared, never parsed)."""
    return secrets.get_secret(secret_name(conn.name, conn.oauth_user))


async def retry_after_login(conn: MCPConnection) -> None:
    """Connect ``conn`` again if it wants a login and one was stored since it failed."""
    if conn.state != "failed" or conn.auth != LOGIN_DUE or conn.config.url is None:
        return
    record = stored_login(conn)
    if record is None or record == conn.login_seen:
        return
    conn.login_seen = record  # one attempt per stored login, whatever it gives
    await conn.restart()
    await conn.wait_settled(conn.config.startup_timeout + 1)
