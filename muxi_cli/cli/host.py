"""``muxi host``: the warm local host of a formation (docs/host.md).

``start`` starts it and waits until it is ready; ``status`` lists every running
host of this user; ``stop`` drains this formation's hosts (``--all``: every
one); ``logs`` prints (``-f``: follows) the log of this formation's host.

Exit codes: 0 ok, 1 the host could not be started or reached, 2 usage error.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from muxi_cli.cli.context import state
from muxi_cli.cli.output import Column, fail, info, print_json, print_table
from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.host import client

app = typer.Typer(
    help="The warm local host: a background process that keeps a formation loaded.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.command("start")
def start(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait until the host is ready.")
    ] = 60.0,
) -> None:
    """Start this formation's host (if none runs) and wait until it is ready."""
    try:
        address = client.start_host(state(ctx).config, timeout=timeout)
    except MuxiError as exc:
        raise fail(exc) from None
    typer.echo(f"host {address.id} ready (pid {address.pid}, socket {address.socket})")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _mib(value: Any) -> str:
    return f"{value / 1048576:.0f} MiB" if isinstance(value, int) else "-"


def _servers(row: dict[str, Any]) -> str:
    servers = row.get("mcp_servers")
    if servers is None:
        return "?"
    return ", ".join(f"{s['name']} ({s['state']})" for s in servers) or "-"


@app.command("status")
def status(
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Every running host of this user: formation, uptime, memory, MCP servers."""
    rows = client.host_statuses()
    if json_out:
        print_json(rows)
        return
    if not rows:
        info("No host is running. The next command that needs agents starts one.")
        return
    from rich.markup import escape  # deferred: rich is slow to import

    columns = [Column("ID"), Column("FORMATION", wrap=True), Column("UPTIME", justify="right")]
    columns += [Column("MEMORY", justify="right"), Column("MCP SERVERS", wrap=True)]
    columns += [Column("IDLE TIMEOUT", justify="right")]
    table = [
        [
            row["id"] + (" [yellow](stale)[/yellow]" if row.get("stale") else ""),
            escape(row["formation"]),
            _duration(row["uptime_s"]),
            _mib(row["rss_bytes"]),
            escape(_servers(row)),
            _duration(row["idle_timeout_s"]),
        ]
        for row in rows
    ]
    print_table(columns, table)


@app.command("stop")
def stop(
    ctx: typer.Context,
    all_hosts: Annotated[bool, typer.Option("--all", help="Stop every host of this user.")] = False,
) -> None:
    """Stop this formation's host (running turns finish first), or every host."""
    count = client.stop_hosts(config=state(ctx).config, all_hosts=all_hosts)
    info(f"stopped {count} host(s)" if count else "no host was running")


@app.command("logs")
def logs(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines to show first.")] = 50,
) -> None:
    """The log of this formation's host (start, stop, errors; secrets redacted)."""
    path = client.host_log(state(ctx).config)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - read while following
    except FileNotFoundError:
        raise fail(
            NotFoundError(
                f"no host log for this formation yet ({path})",
                hint="`muxi host start` starts its host",
            )
        ) from None
    with fh:
        text = fh.read().decode("utf-8", "replace")
        shown = text.splitlines()[-lines:] if lines > 0 else []
        if shown:
            typer.echo("\n".join(shown))
        while follow:
            chunk = fh.read()
            if chunk:
                typer.echo(chunk.decode("utf-8", "replace"), nl=False)
            else:
                time.sleep(0.25)  # a plain file has nothing to wait on; Ctrl-C ends it
