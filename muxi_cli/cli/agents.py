"""``muxi agents``: the agents of the formation."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Annotated

import typer

from muxi_cli.cli.context import runtime_for
from muxi_cli.cli.output import Column, fail, out_console, print_json, print_table
from muxi_cli.errors import NotFoundError
from muxi_cli.termtext import strip_controls

if TYPE_CHECKING:
    from muxi_cli.protocol.records import AgentInfo

app = typer.Typer(help="List and inspect the formation's agents.", no_args_is_help=True)


@app.command("list")
def list_agents(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Name, description, model, tools and memory of every agent."""
    import asyncio  # deferred: asyncio is slow to import

    async def fetch() -> list[AgentInfo]:
        async with runtime_for(ctx, start_tools=False) as runtime:
            return await runtime.agents()

    agents = asyncio.run(fetch())
    if json_out:
        print_json([a.to_dict() for a in agents])
        return
    from rich.markup import escape  # deferred: rich is slow to import

    columns = [
        Column("AGENT"),
        Column("DESCRIPTION", wrap=True),
        Column("MODEL"),
        Column("TOOLS", wrap=True),
        Column("MEMORY"),
    ]
    rows = []
    for agent in agents:
        tools = [*agent.tools, *agent.mcp_servers, *(f"@{d}" for d in agent.delegates)]
        name = escape(agent.name) + (" [dim](default)[/dim]" if agent.default else "")
        rows.append(
            [
                name,
                escape(agent.description or "-"),
                escape(agent.model),
                escape(", ".join(tools) or "-"),
                "on" if agent.memory else "off",
            ]
        )
    print_table(columns, rows)


@app.command("show")
def show_agent(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The agent's name.")],
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Everything about one agent: system message, model, tools, delegates, knowledge."""
    import asyncio  # deferred: asyncio is slow to import

    async def fetch() -> list[AgentInfo]:
        async with runtime_for(ctx, start_tools=False) as runtime:
            return await runtime.agents()

    agents = asyncio.run(fetch())
    names = [a.name for a in agents]
    agent = next((a for a in agents if a.name == name), None)
    if agent is None:
        near = difflib.get_close_matches(name, names, n=1)
        hint = (f"did you mean '{near[0]}'? " if near else "") + f"agents: {', '.join(names)}"
        raise fail(NotFoundError(f"no agent named {name!r}", hint=hint))
    if json_out:
        print_json(agent.to_dict())
        return
    from rich.markup import escape  # deferred: rich is slow to import

    console = out_console()
    default = " [dim](default)[/dim]" if agent.default else ""
    console.print(f"[bold]{escape(agent.name)}[/bold]{default}")
    rows = [
        ("description", agent.description or "-"),
        ("model", agent.model),
        ("memory", "on" if agent.memory else "off"),
        ("tools", ", ".join(agent.tools) or "-"),
        ("mcp servers", ", ".join(agent.mcp_servers) or "-"),
        ("delegates", ", ".join(agent.delegates) or "-"),
        ("knowledge", ", ".join(agent.knowledge) or "-"),
    ]

    # A remote server's answer: no escape sequences reach the terminal.
    for key, value in rows:
        console.print(f"  [dim]{key:<12}[/dim] {escape(strip_controls(value))}")
    console.print("  [dim]system message[/dim]")
    for line in strip_controls(agent.system_message).splitlines() or [""]:
        console.print(f"    {escape(line)}")
