"""What the agent loop needs from the tool layer.

A :class:`ToolHost` owns every tool source (MCP servers, Python functions,
built-ins, delegate agents) behind one registry. The loop asks it which tools
an agent may call, and calls them by their model-facing (namespaced) name.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from muxi_cli.config.schema import AgentConfig, MCPServerConfig
from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.llm.base import ToolSpec
from muxi_cli.protocol.records import ApprovalPolicy, ToolKind

Decision = ApprovalPolicy


@dataclass(frozen=True, slots=True)
class ToolDef:
    """One callable tool.

    ``name`` is the model-facing, namespaced name (``time__get_current_time``);
    ``kind`` where it comes from, and what calls are dispatched on; ``server``
    the MCP server's name (or ``builtin``, ``python``, ``agent`` for the other
    kinds; for display and approval rules only); ``tool`` the name at the source.
    """

    name: str
    server: str
    tool: str
    description: str
    input_schema: dict[str, Any]
    policy: Decision = "ask"
    kind: ToolKind = "mcp"

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.input_schema)


@dataclass(slots=True)
class ToolOutcome:
    """The result of one call. ``content`` is the full text (kept in the
    session); the loop truncates it for the model. ``images`` and ``media``
    (audio, binary resources) are base64 ``{"mime", "data", "name"?}``."""

    ok: bool
    content: str
    structured: Any = None
    images: list[dict[str, str]] = field(default_factory=list)
    media: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ToolCaller:
    """Who a tool call runs for. ``role`` is the key's role ("user" or
    "admin") when ``muxi serve`` runs the turn, ``None`` in-process."""

    user_id: str
    role: str | None = None

    @property
    def remote_user(self) -> bool:
        """A user key of ``muxi serve``: someone other than the machine's owner."""
        return self.role == "user"


#: Set by the agent loop around each tool call; read by tools that must treat
#: remote users differently (the file tools). A context variable rather than an
#: argument keeps every ToolHost's ``call`` signature as it is.
CURRENT_CALLER: ContextVar[ToolCaller | None] = ContextVar("muxi_tool_caller", default=None)


@dataclass(frozen=True, slots=True)
class ServerStatus:
    name: str
    transport: str
    state: Literal["starting", "ready", "failed", "stopped", "disabled"]
    tool_count: int = 0
    started_ms: int | None = None
    error: str | None = None
    #: OAuth state of a remote server ("oauth: signed in", "oauth: login required").
    auth: str | None = None


class ToolHost(Protocol):
    async def tools_for(self, agent: AgentConfig) -> list[ToolDef]:
        """Tools the agent may call now (servers still starting are left out)."""
        ...

    async def call(self, tool: ToolDef, arguments: dict[str, Any]) -> ToolOutcome:
        """Call a tool. Failures come back as ``ToolOutcome(ok=False)``, never raise."""
        ...

    async def all_tools(self) -> list[ToolDef]:
        """Every tool of every source, including servers no agent uses."""
        ...

    async def wait_ready(
        self, timeout: float | None = None, servers: Iterable[str] | None = None
    ) -> None:
        """Wait (bounded) until the given servers (default: all) are ready or failed."""
        ...

    def statuses(self) -> list[ServerStatus]: ...

    def remember_allow(self, tool: ToolDef) -> None:
        """'Always allow' chosen by the user: saved for later runs."""
        ...

    async def attach(self, name: str, config: MCPServerConfig) -> None:
        """Add an MCP server at run time (it starts in the background)."""
        ...

    async def list_prompts(self, server: str) -> list[dict[str, Any]]: ...

    async def get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str: ...

    async def list_resources(self, server: str) -> list[dict[str, Any]]: ...

    async def read_resource(self, server: str, uri: str) -> str: ...

    async def detach(self, name: str) -> None: ...

    async def restart(self, name: str) -> None:
        """Stop a server if it runs and start it again (NotFoundError for an unknown name)."""
        ...

    async def aclose(self) -> None: ...


class NoTools:
    """A tool host with no tools at all."""

    async def tools_for(self, agent: AgentConfig) -> list[ToolDef]:
        return []

    async def call(self, tool: ToolDef, arguments: dict[str, Any]) -> ToolOutcome:
        return ToolOutcome(ok=False, content=f"unknown tool {tool.name!r}")

    async def all_tools(self) -> list[ToolDef]:
        return []

    async def wait_ready(
        self, timeout: float | None = None, servers: Iterable[str] | None = None
    ) -> None:
        return None

    def statuses(self) -> list[ServerStatus]:
        return []

    def remember_allow(self, tool: ToolDef) -> None:
        return None

    async def attach(self, name: str, config: MCPServerConfig) -> None:

        raise UsageError("this runtime has no tool host", hint="open a full runtime")

    def _no_server(self, server: str) -> Exception:

        return NotFoundError(f"no MCP server named {server!r}", hint="see `muxi mcp list`")

    async def list_prompts(self, server: str) -> list[dict[str, Any]]:
        raise self._no_server(server)

    async def get_prompt(
        self, server: str, name: str, arguments: dict[str, str] | None = None
    ) -> str:
        raise self._no_server(server)

    async def list_resources(self, server: str) -> list[dict[str, Any]]:
        raise self._no_server(server)

    async def read_resource(self, server: str, uri: str) -> str:
        raise self._no_server(server)

    async def detach(self, name: str) -> None:
        return None

    async def restart(self, name: str) -> None:
        raise self._no_server(name)

    async def aclose(self) -> None:
        return None
