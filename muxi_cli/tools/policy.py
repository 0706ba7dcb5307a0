"""Approval policies: which tool calls run, ask first, or are refused.

Rules, least to most specific (the most specific one that is set wins):

1. the default: ``allow`` for built-ins and Python tools, the formation's
   ``approval.default`` (``ask`` unless changed) for MCP servers (whatever
   they are called: the tool's kind decides, not its server name);
2. the server's own ``approval:`` (MCP servers, when written in the file);
3. a formation rule ``approval.tools: {"server/*": ...}``;
4. the server's per-tool map ``tools: {tool: ...}``;
5. a formation rule ``approval.tools: {"server/tool": ...}``;
6. the agent's tool entry ``approval:`` (built-ins and Python tools).

Finally an ``ask`` becomes ``allow`` when the user chose "always allow" for
that tool earlier (saved in the settings file); ``deny`` is never relaxed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from muxi_cli import settings
from muxi_cli.protocol.records import ToolKind
from muxi_cli.tools.base import Decision

if TYPE_CHECKING:
    from pathlib import Path

    from muxi_cli.config.schema import Formation, MCPServerConfig, ToolEntry

ALWAYS_ALLOW_KEY = "always_allow"
LOCAL_KINDS: tuple[ToolKind, ...] = ("builtin", "python")


def resolve_policy(
    formation: Formation,
    server: str,
    tool: str,
    *,
    kind: ToolKind = "mcp",
    entry: ToolEntry | None = None,
    server_config: MCPServerConfig | None = None,
    always_allow: set[str] | frozenset[str] = frozenset(),
) -> Decision:
    """The policy of ``tool`` of ``server`` (``builtin``/``python`` for local tools).

    ``kind`` says whether ``server`` names an MCP server; ``server_config``
    defaults to the formation's entry for it.
    """
    rules = formation.approval.tools
    local = kind in LOCAL_KINDS
    config = server_config
    if config is None and not local:
        config = formation.mcp_servers.get(server)
    policy: Decision
    if local:
        policy = "allow"
    else:
        policy = formation.approval.default
        if config is not None and "approval" in config.model_fields_set:
            policy = config.approval
    if f"{server}/*" in rules:
        policy = rules[f"{server}/*"]
    if config is not None and not local and tool in config.tools:
        policy = config.tools[tool]
    if f"{server}/{tool}" in rules:
        policy = rules[f"{server}/{tool}"]
    if entry is not None and entry.approval is not None:
        policy = entry.approval
    if policy == "ask" and f"{server}/{tool}" in always_allow:
        policy = "allow"
    return policy


def load_always_allow(path: Path | None = None) -> set[str]:
    """The ``server/tool`` keys the user chose to always allow."""
    items = settings.get(ALWAYS_ALLOW_KEY, file=path)
    if not isinstance(items, list):
        return set()
    return {str(item) for item in items}


def save_always_allow(key: str, path: Path | None = None) -> None:
    """Add ``server/tool`` to the saved always-allow list (other settings are kept)."""
    if key in load_always_allow(path):
        return

    def add(data: dict[str, Any]) -> None:
        items = data.get(ALWAYS_ALLOW_KEY)
        current = {str(i) for i in items} if isinstance(items, list) else set()
        data[ALWAYS_ALLOW_KEY] = sorted(current | {key})

    settings.update(add, file=path)
