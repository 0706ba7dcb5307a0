"""``muxi tools``: everything an agent can call, with its approval policy.

Goes through the :class:`~muxi_cli.runtime.base.Runtime`, so it works against
a remote ``muxi serve`` too. MCP servers still starting are waited for (their
failures are reported on stderr).

Exit codes: 0 ok, 1 runtime error, 2 unknown agent or usage error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from muxi_cli.cli.context import runtime_for
from muxi_cli.cli.output import Column, info, print_json, print_table

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ServerInfo, ToolInfo
    from muxi_cli.runtime.base import Runtime

app = typer.Typer(
    help="List the tools agents can call: built-ins, Python functions, MCP servers, delegates.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

_POLICY_STYLE = {"allow": "green", "ask": "yellow", "deny": "red"}


@app.command("list")
def list_tools(
    ctx: typer.Context,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Only this agent's tools.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Every tool an agent can call, where it comes from, and its approval policy."""
    from muxi_cli.cli.mcp import (  # deferred: loads asyncio
        print_failures,
        run_async,
        wait_servers,
    )

    async def main() -> tuple[list[ServerInfo], list[ToolInfo]]:
        async with runtime_for(ctx, start_tools=True) as runtime:
            return await _collect(runtime, agent, wait_servers)

    servers, tools = run_async(main())

    if json_out:
        print_json([t.to_dict() for t in tools])
        print_failures(servers)
        return
    if not tools:
        who = f"agent {agent!r}" if agent else "any agent"
        info(
            f"No tools for {who}. Add built-ins (tools: [calculator]), Python functions "
            "(tools: [{python: 'module:function'}]) or MCP servers (mcp_servers: [name]) in muxi.yaml."
        )
        print_failures(servers)
        return
    from rich.markup import escape  # deferred: rich is slow to import

    columns = [Column("TOOL"), Column("SOURCE"), Column("POLICY")]
    if agent is None:
        columns.append(Column("AGENTS", wrap=True))
    columns.append(Column("DESCRIPTION", wrap=True))
    rows = []
    for t in tools:
        row = [
            escape(t.name),
            escape(f"mcp:{t.server}" if t.kind == "mcp" else t.server),
            f"[{_POLICY_STYLE.get(t.policy, 'white')}]{t.policy}[/]",
        ]
        if agent is None:
            row.append(escape(", ".join(t.agents)))
        row.append(escape(_first_line(t.description)))
        rows.append(row)
    print_table(columns, rows)
    print_failures(servers)


async def _collect(
    runtime: Runtime, agent: str | None, wait: Any
) -> tuple[list[ServerInfo], list[ToolInfo]]:
    servers = await wait(runtime)
    return servers, await runtime.tools(agent)


def _first_line(text: str, limit: int = 200) -> str:
    stripped = (text or "").strip()
    line = stripped.splitlines()[0] if stripped else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
