"""``muxi mcp``: inspect and debug the formation's MCP servers.

``list`` and ``tools`` go through the :class:`~muxi_cli.runtime.base.Runtime`
(so they work against a remote ``muxi serve`` too). ``prompts``, ``prompt``,
``resources`` and ``read`` too. ``call`` talks to one server directly (no
model, no approval) and therefore runs on this machine only (the local
profile), through :mod:`muxi_cli.runtime.admin`. The developer commands
(``validate``, ``test``, ``docs``, ``inspect``) are in :mod:`muxi_cli.cli.mcp_dev`.

Exit codes: 0 ok, 1 a tool error or a server that is not available, 2 usage
error (unknown server or tool, bad arguments, remote profile).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from muxi_cli.cli.context import CliState, notice, run_with_runtime, state, uses_host
from muxi_cli.cli.output import Column, err_console, fail, info, print_json, print_table
from muxi_cli.errors import MuxiError, NotFoundError, UsageError
from muxi_cli.runtime import admin
from muxi_cli.termtext import strip_controls

if TYPE_CHECKING:
    from collections.abc import Coroutine, Sequence

    from muxi_cli.protocol.records import ServerInfo
    from muxi_cli.runtime.base import Runtime

T = TypeVar("T")

#: Upper bound on waiting for servers to settle (each has its own startup_timeout).
WAIT_LIMIT = 180.0

app = typer.Typer(
    help="Inspect MCP servers: status, tools, test calls, prompts and resources.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ServerOpt = Annotated[str | None, typer.Argument(help="Only this server (default: every server).")]
ArgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--arg",
        "-a",
        metavar="KEY=VALUE",
        help="An argument as key=value (repeatable). Values that parse as JSON are used as JSON, "
        "others as strings.",
    ),
]


# -- helpers shared with `muxi tools` -------------------------------------------


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; a MuxiError becomes an error panel and its exit code."""

    try:
        return asyncio.run(coro)
    except MuxiError as exc:
        raise fail(exc) from None


def parse_args(pairs: Sequence[str], json_args: str | None) -> dict[str, Any]:
    """``--json '{...}'`` and ``--arg k=v`` (values parsed as JSON when they parse)."""

    arguments: dict[str, Any] = {}
    if json_args is not None:
        try:
            value = json.loads(json_args)
        except ValueError as exc:
            raise UsageError(
                f"--json is not valid JSON: {exc}", "Quote it: --json '{\"key\": 1}'"
            ) from exc
        if not isinstance(value, dict):
            raise UsageError(
                "--json must be a JSON object", 'For example: --json \'{"text": "hi"}\''
            )
        arguments.update(value)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--arg {pair!r} is not key=value", "For example: --arg text=hello --arg n=3"
            )
        try:
            arguments[key.strip()] = json.loads(raw)
        except ValueError:
            arguments[key.strip()] = raw
    return arguments


async def wait_servers(runtime: Runtime, limit: float = WAIT_LIMIT) -> list[ServerInfo]:
    """Poll the runtime until no server is still starting (progress on stderr)."""

    servers = await runtime.mcp_servers()
    if not any(s.state == "starting" for s in servers):
        return servers
    deadline = time.monotonic() + limit
    status = None
    if sys.stderr.isatty():
        status = err_console().status("Starting MCP servers…")
        status.start()
    try:
        while any(s.state == "starting" for s in servers) and time.monotonic() < deadline:
            if status is not None:
                ready = sum(s.state == "ready" for s in servers)
                waiting = ", ".join(s.name for s in servers if s.state == "starting")
                status.update(
                    f"Starting MCP servers: {ready}/{len(servers)} ready (waiting for {waiting})"
                )
            await asyncio.sleep(0.05)
            servers = await runtime.mcp_servers()
    finally:
        if status is not None:
            status.stop()
    return servers


def print_failures(servers: Sequence[Any]) -> None:
    """Report each failed server once on stderr, with its stderr tail."""
    from rich.markup import escape  # deferred: rich is slow to import

    for s in servers:
        if s.state != "failed":
            continue
        head, _, rest = (s.error or "failed").partition("\n")
        err_console().print(
            f"[yellow]warning:[/yellow] MCP server {escape(s.name)!r} failed: {escape(head)}"
        )
        if rest:
            err_console().print(f"[dim]{escape(rest)}[/dim]")


# -- commands -------------------------------------------------------------------


def _with_runtime(ctx: typer.Context, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` with the command's runtime, MCP servers started."""

    return run_with_runtime(ctx, work, start_tools=True)


def _state_text(state: str) -> str:
    colors = {
        "ready": "green",
        "starting": "yellow",
        "failed": "red",
        "stopped": "dim",
        "disabled": "dim",
    }
    return f"[{colors.get(state, 'white')}]{state}[/]"


@app.command("list")
def list_servers(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Every MCP server of the formation: transport, status, tool count, start time."""

    async def work(runtime: Runtime) -> list[ServerInfo]:
        return await wait_servers(runtime)

    servers = _with_runtime(ctx, work)

    if json_out:
        print_json([s.to_dict() for s in servers])
        print_failures(servers)
        return
    if not servers:
        info("No MCP servers in this formation. Declare them under `mcp_servers:` in muxi.yaml.")
        return
    from rich.markup import escape  # deferred: rich is slow to import

    columns = [Column("SERVER"), Column("TRANSPORT"), Column("STATUS")]
    columns += [Column("TOOLS", justify="right"), Column("STARTED IN", justify="right")]
    with_auth = any(s.auth for s in servers)  # the column only when a server uses OAuth
    if with_auth:
        columns.append(Column("AUTH"))
    rows = [
        [
            escape(s.name),
            s.transport,
            _state_text(s.state),
            str(s.tool_count) if s.state == "ready" else "-",
            f"{s.started_ms} ms" if s.started_ms is not None else "-",
            *([escape((s.auth or "-").removeprefix("oauth: "))] if with_auth else []),
            escape((s.error or "").splitlines()[0] if s.error else ""),
        ]
        for s in servers
    ]
    print_table([*columns, Column("ERROR", wrap=True)], rows)
    print_failures(servers)


@app.command("tools")
def list_tools(ctx: typer.Context, server: ServerOpt = None, json_out: JsonOpt = False) -> None:
    """The tools of the MCP servers (the names the model sees, with approval policy)."""

    async def work(runtime: Runtime) -> tuple[list[ServerInfo], list[Any]]:
        servers = await wait_servers(runtime)
        return servers, await runtime.tools()

    servers, tools = _with_runtime(ctx, work)

    names = {s.name for s in servers}
    if server is not None and server not in names:
        known = ", ".join(sorted(names)) or "none declared"
        raise fail(
            NotFoundError(f"no MCP server named {server!r}", f"Servers in this formation: {known}.")
        )
    chosen = [
        t
        for t in tools
        if t.kind == "mcp" and t.server in names and (server is None or t.server == server)
    ]
    if json_out:
        print_json([t.to_dict() for t in chosen])
        print_failures([s for s in servers if server is None or s.name == server])
        return
    from rich.markup import escape  # deferred: rich is slow to import

    if chosen:
        columns = [Column("TOOL"), Column("SERVER"), Column("POLICY")]
        rows = [
            [escape(t.name), escape(t.server), t.policy, escape(_first_line(t.description))]
            for t in chosen
        ]
        print_table([*columns, Column("DESCRIPTION", wrap=True)], rows)
    shown = {t.server for t in chosen}
    for s in servers:
        if (
            (server is None or s.name == server)
            and s.state == "ready"
            and s.name not in shown
            and s.tool_count
        ):
            info(f"{s.name}: {s.tool_count} tool(s), not listed because no agent uses this server")
    print_failures([s for s in servers if server is None or s.name == server])


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@app.command("call")
def call(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="MCP server name.")],
    tool: Annotated[str, typer.Argument(help="Tool name as the server calls it (not namespaced).")],
    arg: ArgOpt = None,
    json_args: Annotated[
        str | None, typer.Option("--json", "-j", help="All arguments as one JSON object.")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="text (the result) or json (the whole outcome).")
    ] = "text",
) -> None:
    """Call one tool directly (no model, no approval prompt) and print the result."""

    if output not in ("text", "json"):
        raise fail(
            UsageError(f"unknown output format {output!r}", "Use --output text or --output json.")
        )
    try:
        arguments = parse_args(arg or [], json_args)
    except UsageError as exc:
        raise fail(exc) from None

    outcome = run_async(_call_tool(state(ctx), server, tool, arguments))

    if output == "json":
        print_json(
            {
                "ok": outcome.ok,
                "content": outcome.content,
                "structured": outcome.structured,
                "images": outcome.images,
                "media": outcome.media,
            }
        )
    else:
        stream = sys.stdout if outcome.ok else sys.stderr
        content = outcome.content
        if stream.isatty():  # a tool's text may carry escape sequences; a pipe gets it as is
            content = strip_controls(content)
        stream.write(content + ("" if content.endswith("\n") else "\n"))
        stream.flush()
    if not outcome.ok:
        raise typer.Exit(1)


async def _call_tool(st: CliState, server: str, tool: str, arguments: dict[str, Any]) -> Any:
    """Through the warm host when there is one (its servers are up), else here."""
    if not uses_host(st):
        return await admin.call_tool(st.profile, st.config, server, tool, arguments)
    from muxi_cli.host import client as host_client  # deferred: only local calls
    from muxi_cli.host.connect import call_tool_through_host  # deferred: as above

    environ = dict(os.environ)  # as the command started (see runtime_for)
    hosted = await call_tool_through_host(
        st.config, server, tool, arguments, notice=lambda m: notice(st, m)
    )
    if hosted is not None:
        return hosted
    try:
        return await admin.call_tool(st.profile, st.config, server, tool, arguments)
    finally:
        host_client.start_in_background(st.config, environ=environ)


#: Free-text columns of the listings: they wrap; the others show whole.
_WRAPPING = ("ARGUMENTS", "DESCRIPTION")


def _listing(
    ctx: typer.Context,
    fetch: Callable[[Runtime], Awaitable[list[dict[str, Any]]]],
    json_out: bool,
    what: str,
    columns: Sequence[str],
    cells: Callable[[dict[str, Any]], Sequence[str]],
) -> None:
    """Fetch rows once servers settled, then print them as JSON or a table (cells are markup)."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        print_failures(await wait_servers(runtime))
        return await fetch(runtime)

    rows = _with_runtime(ctx, work)

    if json_out:
        print_json(rows)
        return
    if not rows:
        info(f"No {what}.")
        return

    heads = [Column(c, wrap=c in _WRAPPING) for c in columns]
    print_table(heads, [list(cells(row)) for row in rows])


@app.command("prompts")
def prompts(ctx: typer.Context, server: ServerOpt = None, json_out: JsonOpt = False) -> None:
    """The prompts the servers offer (use one with `muxi mcp prompt`)."""
    from rich.markup import escape  # deferred: rich is slow to import

    def cells(row: dict[str, Any]) -> Sequence[str]:
        args = ", ".join(
            a["name"] + ("" if a.get("required") else "?") for a in row.get("arguments", [])
        )
        return (
            escape(row["server"]),
            escape(row["name"]),
            escape(args),
            escape(_first_line(row["description"])),
        )

    _listing(
        ctx,
        lambda rt: rt.mcp_prompts(server),
        json_out,
        "prompts",
        ("SERVER", "PROMPT", "ARGUMENTS", "DESCRIPTION"),
        cells,
    )


@app.command("prompt")
def prompt(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="MCP server name.")],
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    arg: ArgOpt = None,
) -> None:
    """Render one prompt with its arguments and print it."""

    try:
        arguments = {
            k: v if isinstance(v, str) else _json(v) for k, v in parse_args(arg or [], None).items()
        }
    except UsageError as exc:
        raise fail(exc) from None

    async def work(runtime: Runtime) -> str:
        await wait_servers(runtime)
        return await runtime.mcp_get_prompt(server, name, arguments)

    _echo(_with_runtime(ctx, work))


def _echo(text: str) -> None:
    """Print a server's text; on a terminal without escape sequences."""

    typer.echo(strip_controls(text) if sys.stdout.isatty() else text)


def _json(value: Any) -> str:

    return json.dumps(value)


@app.command("resources")
def resources(ctx: typer.Context, server: ServerOpt = None, json_out: JsonOpt = False) -> None:
    """The resources (and resource templates) the servers offer."""
    from rich.markup import escape  # deferred: rich is slow to import

    def cells(row: dict[str, Any]) -> Sequence[str]:
        return (
            escape(row["server"]),
            escape(row["uri"]) + (" [dim](template)[/dim]" if row.get("template") else ""),
            escape(row["name"]),
            escape(row.get("mime_type") or ""),
            escape(_first_line(row.get("description") or "")),
        )

    _listing(
        ctx,
        lambda rt: rt.mcp_resources(server),
        json_out,
        "resources",
        ("SERVER", "URI", "NAME", "TYPE", "DESCRIPTION"),
        cells,
    )


@app.command("read")
def read(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="MCP server name.")],
    uri: Annotated[str, typer.Argument(help="Resource URI, as `muxi mcp resources` shows it.")],
) -> None:
    """Print one resource (or attach it to a message: `muxi chat --resource SERVER:URI`)."""

    async def work(runtime: Runtime) -> str:
        await wait_servers(runtime)
        return await runtime.mcp_read_resource(server, uri)

    _echo(_with_runtime(ctx, work))
