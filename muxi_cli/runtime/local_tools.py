"""The tools and MCP servers of a :class:`~muxi_cli.runtime.local.LocalRuntime`.

A mixin of the runtime: these methods read the formation and the tool host it
owns, and attach or detach MCP servers while it runs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import ConfigError, NotFoundError
from muxi_cli.protocol.records import ServerInfo, ToolInfo

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation
    from muxi_cli.core.orchestrator import Orchestrator
    from muxi_cli.tools.base import ToolDef, ToolHost


class LocalTools:
    """Listing tools, and the MCP servers' lifecycle, prompts and resources."""

    formation: Formation
    tool_host: ToolHost
    orchestrator: Orchestrator

    async def tools(self, agent: str | None = None) -> list[ToolInfo]:
        from muxi_cli.core.router import unknown_agent  # deferred: loads pydantic

        agents = self.formation.agents
        if agent is not None:
            one = self.formation.agent(agent)
            if one is None:
                raise unknown_agent(agent, [a.name for a in agents])
            agents = [one]
        found: dict[str, ToolInfo] = {}

        def info(d: ToolDef) -> ToolInfo:
            if d.name not in found:
                found[d.name] = ToolInfo(
                    name=d.name,
                    server=d.server,
                    tool=d.tool,
                    description=d.description,
                    input_schema=d.input_schema,
                    policy=d.policy,
                    kind=d.kind,
                )
            return found[d.name]

        if agent is None:
            for d in await self.tool_host.all_tools():
                info(d)
        for cfg in agents:
            defs = list(await self.tool_host.tools_for(cfg))
            defs += self.orchestrator.engine.delegate_tools(cfg, 0)
            for d in defs:
                info(d).agents.append(cfg.name)
        return sorted(found.values(), key=lambda t: (t.server, t.name))

    async def mcp_servers(self) -> list[ServerInfo]:
        recheck = getattr(self.tool_host, "recheck_logins", None)  # a ToolManager's
        if recheck is not None:  # a login made since in another process (mcp_relogin.py)
            await recheck()
        return [
            ServerInfo(
                name=s.name,
                transport=s.transport,
                state=s.state,
                tool_count=s.tool_count,
                started_ms=s.started_ms,
                error=s.error,
                approval=self._server_policy(s.name),
                auth=s.auth,
            )
            for s in self.tool_host.statuses()
        ]

    def _server_policy(self, name: str) -> str | None:
        config = self.formation.mcp_servers.get(name)
        return config.approval if config is not None else None

    async def mcp_attach(
        self, name: str, server: dict[str, Any], agents: list[str] | None = None
    ) -> ServerInfo:

        from muxi_cli.config.schema import MCPServerConfig  # deferred: loads pydantic
        from muxi_cli.core.router import unknown_agent  # deferred: loads pydantic

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise ConfigError(
                f"invalid MCP server name {name!r}",
                hint="use letters, digits, '-', '_' and '.' (max 64 characters)",
            )
        try:
            config = MCPServerConfig.model_validate(server)
        except ValueError as exc:
            raise ConfigError(
                f"invalid MCP server settings for {name!r}: {exc}",
                hint="give either command (+ args, env) or url (+ headers)",
            ) from None
        names = [a.name for a in self.formation.agents]
        for agent_name in agents or []:
            if agent_name not in names:
                raise unknown_agent(agent_name, names)
        self.formation.mcp_servers[name] = config
        for agent in self.formation.agents:
            if (agents is None or agent.name in agents) and name not in agent.mcp_servers:
                agent.mcp_servers.append(name)
        await self.tool_host.attach(name, config)
        for status in await self.mcp_servers():
            if status.name == name:
                return status
        return ServerInfo(name=name, transport=config.transport, state="starting")

    async def mcp_detach(self, name: str) -> None:

        if name not in self.formation.mcp_servers:
            raise NotFoundError(f"no MCP server named {name!r}", hint="see `muxi mcp list`")
        await self.tool_host.detach(name)
        del self.formation.mcp_servers[name]
        for agent in self.formation.agents:
            if name in agent.mcp_servers:
                agent.mcp_servers.remove(name)

    async def mcp_restart(self, name: str) -> ServerInfo:
        await self.tool_host.restart(name)
        for status in await self.mcp_servers():
            if status.name == name:
                return status
        return ServerInfo(name=name, transport="stdio", state="starting")  # pragma: no cover

    async def mcp_call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call one tool of one server directly, no model, no approval (``muxi mcp call``
        through the warm host; admin keys only over HTTP)."""
        manager: Any = self.tool_host  # a ToolManager: the ToolHost protocol has no server_tool
        outcome = await manager.call(await manager.server_tool(server, tool), arguments)
        return {
            "ok": outcome.ok,
            "content": outcome.content,
            "structured": outcome.structured,
            "images": outcome.images,
            "media": outcome.media,
        }

    def _ready_servers(self, server: str | None) -> list[str]:
        if server is not None:
            return [server]
        return [s.name for s in self.tool_host.statuses() if s.state == "ready"]

    async def mcp_prompts(self, server: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in self._ready_servers(server):
            out += [{**p, "server": name} for p in await self.tool_host.list_prompts(name)]
        return out

    async def mcp_get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str:
        return await self.tool_host.get_prompt(server, name, arguments)

    async def mcp_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in self._ready_servers(server):
            out += [{**r, "server": name} for r in await self.tool_host.list_resources(name)]
        return out

    async def mcp_read_resource(self, server: str, uri: str) -> str:
        return await self.tool_host.read_resource(server, uri)
