"""Per-user connections of OAuth MCP servers on ``muxi serve``.

A server that uses OAuth acts for whoever authorized it, so on ``muxi serve``
a tool call of a remote user (a key whose role is "user" or "admin") goes
through a connection of that muxi user, with that user's tokens
(``mcp-oauth:NAME@user:ID`` in the keyring), never through the shared one.
Connections open on first use and stay open until the tool host closes.
The shared connection keeps serving in-process use; the tool list comes from
it, or when it has no login, from any user's ready connection (``tools_of``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.tools.mcp_client import MCPConnection
from muxi_cli.tools.mcp_oauth import uses_oauth

if TYPE_CHECKING:
    from muxi_cli.config.schema import MCPServerConfig
    from muxi_cli.tools.base import ToolCaller


class UserConnections:
    """``(server, user) -> MCPConnection``, opened on demand."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self._conns: dict[tuple[str, str], MCPConnection] = {}
        self._lock = asyncio.Lock()

    async def connection_for(
        self, name: str, config: MCPServerConfig, caller: ToolCaller | None
    ) -> MCPConnection | None:
        """The caller's own connection when ``name`` uses OAuth on a server; else None."""
        if caller is None or caller.role is None or not uses_oauth(config):
            return None  # in-process (the machine's owner) or no OAuth: the shared connection
        key = (name, caller.user_id)
        async with self._lock:
            conn = self._conns.get(key)
            if conn is None or conn.config is not config:
                if conn is not None:
                    await conn.stop()
                conn = MCPConnection(name, config, self.base_dir)
                conn.oauth_user = caller.user_id
                self._conns[key] = conn
                conn.start()
            elif conn.state == "failed" and not conn._was_ready:
                conn.start()  # a login may have happened since: try again
        await conn.wait_settled(config.startup_timeout + 1)
        return conn

    def tools_of(self, name: str) -> list[Any]:
        """The tool list of any user's ready connection to ``name`` (for the offer).

        On a server the shared connection may have no login at all; the tools
        a server offers do not depend on who asks, so one user's list serves.
        """
        for (server, _user), conn in self._conns.items():
            if server == name and conn.ready:
                return conn.tools
        return []

    async def open(self, name: str, config: MCPServerConfig, user: str) -> MCPConnection | None:
        """Open (or reopen) ``user``'s connection, e.g. right after a login."""
        from muxi_cli.tools.base import ToolCaller

        old = self._conns.pop((name, user), None)
        if old is not None:
            await old.stop()
        return await self.connection_for(name, config, ToolCaller(user, "user"))

    def forget(self, name: str, user: str) -> None:
        """Drop a user's connection (after a login or logout through the server)."""
        conn = self._conns.pop((name, user), None)
        if conn is not None:
            task = asyncio.get_running_loop().create_task(conn.stop())
            task.add_done_callback(lambda _t: None)

    async def aclose(self) -> None:
        conns, self._conns = list(self._conns.values()), {}
        await asyncio.gather(*(c.stop() for c in conns), return_exceptions=True)
