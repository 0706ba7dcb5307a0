"""The tool registry an agent loop talks to: MCP servers, Python tools, built-ins.

:class:`ToolManager` implements :class:`muxi_cli.tools.base.ToolHost`.
``start()`` launches every enabled MCP server in the background and returns
at once; ``tools_for(agent)`` answers with whatever is ready now, so a slow or
broken server never holds up the first prompt.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli import paths
from muxi_cli.config.schema import BUILTIN_TOOLS
from muxi_cli.errors import ConfigError, NotFoundError, ToolError
from muxi_cli.protocol.records import KIND_SOURCES, ToolKind
from muxi_cli.tools.base import CURRENT_CALLER, ServerStatus, ToolDef, ToolOutcome
from muxi_cli.tools.builtins import BuiltinContext, get_builtin
from muxi_cli.tools.mcp_client import MCPConnection, quiet_sdk_logging
from muxi_cli.tools.mcp_relogin import retry_after_login
from muxi_cli.tools.mcp_users import UserConnections
from muxi_cli.tools.naming import NameRegistry, delegate_name, namespaced
from muxi_cli.tools.policy import load_always_allow, resolve_policy, save_always_allow

if TYPE_CHECKING:
    from muxi_cli.config.schema import AgentConfig, Formation, MCPServerConfig, ToolEntry
    from muxi_cli.tools.python_tools import PythonTool

#: The ``server`` shown for built-ins and Python tools (display and approval rules).
BUILTIN = KIND_SOURCES["builtin"]
PYTHON = KIND_SOURCES["python"]


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class ToolManager:
    """Every tool source of one formation behind one registry."""

    def __init__(
        self,
        formation: Formation,
        *,
        base_dir: Path | None = None,
        settings_file: Path | None = None,
        config_file: Path | None = None,
    ) -> None:
        self.formation = formation
        self.base_dir = (base_dir or Path.cwd()).resolve()
        #: The loaded formation file: the file tools never serve it.
        self.config_file = config_file
        self._settings_file = settings_file
        self._names = NameRegistry()
        for name in BUILTIN_TOOLS:  # built-ins keep their plain names
            self._names.assign("builtin", BUILTIN, name, name)
        for agent in formation.agents:  # so no other tool takes a delegate's name
            self._names.assign("delegate", "agent", agent.name, delegate_name(agent.name))
        self._servers: dict[str, MCPConnection] = {
            name: self._connection(name, config) for name, config in formation.mcp_servers.items()
        }
        #: OAuth servers' connections per muxi user on ``muxi serve`` (mcp_users.py).
        self.user_conns = UserConnections(self.base_dir)
        self._python: dict[str, PythonTool] = {}
        self._python_by_name: dict[str, PythonTool] = {}
        self._python_errors: dict[str, str] = {}
        self._reported: set[tuple[str, int]] = set()
        self._always_allow: set[str] | None = None
        self._allow_stamp: tuple[int, int, int] | None = None
        self._started = False

    def _connection(self, name: str, config: MCPServerConfig) -> MCPConnection:
        conn = MCPConnection(name, config, self.base_dir)
        conn.file_roots = self.formation.files  # offered as the server's roots
        return conn

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Start every enabled MCP server in the background; returns immediately."""
        if self._started:
            return
        self._started = True
        if self._servers:
            quiet_sdk_logging()
        for conn in self._servers.values():
            conn.start()

    async def wait_ready(
        self, timeout: float | None = None, servers: Iterable[str] | None = None
    ) -> None:
        """Wait until every server (or just ``servers``) is ready or failed.

        For CLI commands that need the servers up, and for one-shot runs that
        prefer to wait for an agent's servers before the first model call.
        ``timeout`` defaults to the longest ``startup_timeout`` (plus a second).
        """
        await self.start()
        names = set(servers) if servers is not None else None
        conns = [c for n, c in self._servers.items() if names is None or n in names]
        if not conns:
            return
        if timeout is None:
            timeout = max(c.config.startup_timeout for c in conns) + 1
        await asyncio.gather(*(c.wait_settled(timeout) for c in conns))

    async def aclose(self) -> None:
        """Stop every server (each one within a bounded time)."""
        await asyncio.gather(*(c.stop() for c in self._servers.values()), return_exceptions=True)
        await self.user_conns.aclose()

    async def attach(self, name: str, config: MCPServerConfig) -> None:
        """Add (or replace) a server at run time; it starts in the background."""
        if name in self._servers:
            await self.detach(name)
        conn = self._connection(name, config)
        self._servers[name] = conn
        if self._started:
            quiet_sdk_logging()
            conn.start()

    async def detach(self, name: str) -> None:
        conn = self._servers.pop(name, None)
        if conn is not None:
            await conn.stop()

    async def restart(self, name: str) -> None:
        """Start a server again (stopping it first if it runs); it settles in the background."""
        conn = self._server(name)
        if not self._started:
            await self.start()  # starts every server, this one included
            return
        quiet_sdk_logging()
        await conn.restart()

    # -- status --------------------------------------------------------------

    async def recheck_logins(self, servers: Iterable[str] | None = None) -> None:
        """Servers that wanted a login connect again once one was stored (mcp_relogin.py)."""
        names = self._servers if servers is None else servers
        conns = [self._servers[n] for n in names if n in self._servers]
        await asyncio.gather(*(retry_after_login(c) for c in conns))

    def statuses(self) -> list[ServerStatus]:
        return [conn.status() for conn in self._servers.values()]

    def failures(self) -> list[ServerStatus]:
        """Every current failure: servers that failed and Python tools that did not load."""
        out = [s for s in self.statuses() if s.state == "failed"]
        out.extend(
            ServerStatus(name=f"python:{ref}", transport=PYTHON, state="failed", error=error)
            for ref, error in self._python_errors.items()
        )
        return out

    def take_new_failures(self) -> list[ServerStatus]:
        """Failures not returned before: print each one once."""
        new = []
        for status in self.failures():
            conn = self._servers.get(status.name)
            key = (status.name, conn.failure_id if conn is not None else 0)
            if key not in self._reported:
                self._reported.add(key)
                new.append(status)
        return new

    # -- tools ---------------------------------------------------------------

    def _allowed(self) -> set[str]:
        # Read again when the settings file changed: a long-lived manager (the chat
        # app, a warm host) must honour an entry the user deleted to be asked again.
        stamp = _stamp(self._settings_file or paths.settings_path())
        if self._always_allow is None or stamp != self._allow_stamp:
            self._always_allow = load_always_allow(self._settings_file)
            self._allow_stamp = stamp
        return self._always_allow

    def _policy(
        self, kind: ToolKind, server: str, tool: str, entry: ToolEntry | None = None
    ) -> Any:
        conn = self._servers.get(server) if kind == "mcp" else None
        return resolve_policy(
            self.formation,
            server,
            tool,
            kind=kind,
            entry=entry,
            server_config=conn.config if conn is not None else None,
            always_allow=self._allowed(),
        )

    def _builtin_def(self, name: str, entry: ToolEntry | None) -> ToolDef:

        spec = get_builtin(name)
        return ToolDef(
            name=self._names.assign("builtin", BUILTIN, name, name),
            server=BUILTIN,
            tool=name,
            description=spec.description,
            input_schema=spec.schema,
            policy=self._policy("builtin", BUILTIN, name, entry),
            kind="builtin",
        )

    def _python_tool(self, ref: str) -> PythonTool | None:
        tool = self._python.get(ref)
        if tool is not None or ref in self._python_errors:
            return tool
        from muxi_cli.tools.python_tools import (
            load_python_tool,  # deferred: loads muxi's threads
        )

        try:
            tool = load_python_tool(ref, self.base_dir)
        except ConfigError as exc:
            self._python_errors[ref] = exc.message
            return None
        name = self._names.assign("python", PYTHON, ref, tool.name)
        self._python[ref] = tool
        self._python_by_name[name] = tool
        return tool

    def _python_def(self, ref: str, entry: ToolEntry | None) -> ToolDef | None:
        tool = self._python_tool(ref)
        if tool is None:
            return None
        return ToolDef(
            name=self._names.assign("python", PYTHON, ref, tool.name),
            server=PYTHON,
            tool=tool.name,
            description=tool.description,
            input_schema=tool.input_schema,
            policy=self._policy("python", PYTHON, tool.name, entry),
            kind="python",
        )

    def _server_defs(self, server: str) -> list[ToolDef]:
        conn = self._servers.get(server)
        if conn is None:
            return []
        # Not usable: on `muxi serve` an OAuth server may be reachable through users' logins.
        tools = conn.tools if conn.usable else self.user_conns.tools_of(server)
        defs = []
        for tool in tools:
            schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
            defs.append(
                ToolDef(
                    name=self._names.assign(
                        "mcp", server, tool.name, namespaced(server, tool.name)
                    ),
                    server=server,
                    tool=tool.name,
                    description=(tool.description or tool.title or tool.name).strip(),
                    input_schema=schema or {"type": "object", "properties": {}},
                    policy=self._policy("mcp", server, tool.name),
                    kind="mcp",
                )
            )
        return defs

    async def tools_for(self, agent: AgentConfig) -> list[ToolDef]:
        """What ``agent`` may call now: its built-ins, Python tools and ready servers' tools."""
        await self.start()
        await self.recheck_logins(agent.mcp_servers)
        defs: list[ToolDef] = []
        for entry in agent.tools:
            if entry.builtin:
                defs.append(self._builtin_def(entry.builtin, entry))
            elif entry.python:
                tool_def = self._python_def(entry.python, entry)
                if tool_def is not None:
                    defs.append(tool_def)
        for server in agent.mcp_servers:
            defs.extend(self._server_defs(server))
        return defs

    async def all_tools(self) -> list[ToolDef]:
        """Every tool of every agent, plus the tools of ready servers no agent uses."""
        seen: dict[str, ToolDef] = {}
        await self.recheck_logins()
        for agent in self.formation.agents:
            for tool_def in await self.tools_for(agent):
                seen.setdefault(tool_def.name, tool_def)
        for server in self._servers:
            for tool_def in self._server_defs(server):
                seen.setdefault(tool_def.name, tool_def)
        return list(seen.values())

    async def find(self, name: str, agent: AgentConfig | None = None) -> ToolDef | None:
        """The tool whose model-facing name is ``name`` (for ``agent``, or any)."""
        tools = await self.tools_for(agent) if agent is not None else await self.all_tools()
        for tool_def in tools:
            if tool_def.name == name:
                return tool_def
        return None

    async def server_tool(self, server: str, tool: str) -> ToolDef:
        """The :class:`ToolDef` of ``tool`` on MCP server ``server`` (for ``muxi mcp call``)."""
        conn = self._server(server)
        await self.start()
        await conn.wait_settled(conn.config.startup_timeout + 1)
        await retry_after_login(conn)
        for tool_def in self._server_defs(server):
            if tool_def.tool == tool:
                return tool_def
        if not conn.usable:
            raise ToolError(
                f"MCP server {server!r} is not available: {conn.error or conn.state}",
                "Run `muxi mcp list` to see its status.",
            )
        known = ", ".join(sorted(t.name for t in conn.tools)) or "none"
        raise NotFoundError(f"MCP server {server!r} has no tool {tool!r}", f"Its tools: {known}.")

    def remember_allow(self, tool: ToolDef) -> None:
        """'Always allow': from now on (and in later runs) ``ask`` becomes ``allow``."""
        key = f"{tool.server}/{tool.tool}"
        self._allowed().add(key)
        save_always_allow(key, self._settings_file)

    async def call(self, tool: ToolDef, arguments: dict[str, Any]) -> ToolOutcome:
        """Run one call. Never raises: every failure is a ``ToolOutcome(ok=False)``."""
        if not isinstance(arguments, dict):
            return ToolOutcome(
                ok=False,
                content=f"arguments for {tool.name} must be a JSON object, got {type(arguments).__name__}",
            )
        try:
            if tool.kind == "builtin":
                return await self._call_builtin(tool.tool, arguments)
            if tool.kind == "python":
                python_tool = self._python_by_name.get(tool.name)
                if python_tool is None:
                    return ToolOutcome(ok=False, content=f"unknown tool {tool.name!r}")
                return await python_tool.call(arguments)
            if tool.kind != "mcp":
                return ToolOutcome(ok=False, content=f"{tool.name!r} is not a tool of this host")
            conn = self._servers.get(tool.server)
            if conn is None:
                return ToolOutcome(ok=False, content=f"unknown MCP server {tool.server!r}")
            # An OAuth server on `muxi serve`: the calling user's own connection.
            own = await self.user_conns.connection_for(
                tool.server, conn.config, CURRENT_CALLER.get()
            )
            return await (own or conn).call_tool(tool.tool, arguments)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return ToolOutcome(ok=False, content=f"{type(exc).__name__}: {exc}")

    async def _call_builtin(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:

        if name not in BUILTIN_TOOLS:
            return ToolOutcome(ok=False, content=f"unknown built-in tool {name!r}")
        ctx = BuiltinContext(
            self.formation, self.base_dir, config_file=self.config_file, caller=CURRENT_CALLER.get()
        )
        return await get_builtin(name).run(arguments, ctx)

    # -- prompts and resources ---------------------------------------------

    def _server(self, name: str) -> MCPConnection:
        conn = self._servers.get(name)
        if conn is None:
            known = ", ".join(sorted(self._servers)) or "none declared"
            raise NotFoundError(
                f"no MCP server named {name!r}",
                f"Servers in this formation: {known}. Declare servers under `mcp_servers:` in muxi.yaml.",
            )
        return conn

    async def _callers_server(self, name: str) -> MCPConnection:
        """The caller's own connection to an OAuth server on `muxi serve`, else the shared one."""
        conn = self._server(name)
        own = await self.user_conns.connection_for(name, conn.config, CURRENT_CALLER.get())
        return own or conn

    async def list_prompts(self, server: str) -> list[dict[str, Any]]:
        return await (await self._callers_server(server)).list_prompts()

    async def get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str:
        return await (await self._callers_server(server)).get_prompt(name, arguments or {})

    async def list_resources(self, server: str) -> list[dict[str, Any]]:
        return await (await self._callers_server(server)).list_resources()

    async def read_resource(self, server: str, uri: str) -> str:
        return await (await self._callers_server(server)).read_resource(uri)
