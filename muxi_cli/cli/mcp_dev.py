"""``muxi mcp validate|test|docs|inspect``: tooling for MCP server authors.

Each command takes a TARGET: a server name from the formation, a command
line after ``--``, or a URL (``/sse`` at the end means legacy SSE)::

    muxi mcp validate time
    muxi mcp validate -- python server.py --flag
    muxi mcp test http://127.0.0.1:8000/mcp --json

These connect to the server directly from this machine (whatever profile is
selected). Exit codes: 0 all good (warnings allowed), 1 a check or test
failed or the server could not be reached, 2 usage error (unknown target,
bad options, unreadable cases file).

:func:`register` adds the commands to the ``muxi mcp`` group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from muxi_cli.cli.context import state
from muxi_cli.cli.output import (
    Column,
    err_console,
    fail,
    info,
    out_console,
    print_json,
    print_table,
    write_output_file,
)
from muxi_cli.errors import MuxiError, UsageError

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from muxi_cli.mcpdev.target import Target
    from muxi_cli.mcpdev.testing import TestReport
    from muxi_cli.mcpdev.validate import ValidationReport

TargetArg = Annotated[
    list[str],
    typer.Argument(
        help="A server name from muxi.yaml, a URL, or a command line after `--` "
        "(`-- python server.py`).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON (for CI).")]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", "-t", min=0.1, help="Seconds to wait for each request.")
]
StartTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--start-timeout",
        min=0.1,
        help="Seconds to wait for the server to start (default: the larger of --timeout and 30).",
    ),
]
EnvOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        "-e",
        metavar="KEY=VALUE",
        help="KEY=VALUE for a command's environment (repeatable; ${VAR} expands from yours).",
    ),
]
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        "-H",
        metavar="'NAME: VALUE'",
        help="'Name: value' HTTP header for a URL (repeatable). Keep secrets out of argv: "
        "'Authorization: Bearer ${TOKEN}' in single quotes is filled in from the environment.",
    ),
]

_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
_MARK = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-"}


def _target(
    ctx: typer.Context, words: list[str], env: list[str] | None, headers: list[str] | None
) -> Target:
    from muxi_cli.mcpdev.target import (  # deferred: keeps start-up light
        parse_env,
        parse_headers,
        parse_target,
    )

    try:
        return parse_target(
            words,
            config_path=state(ctx).config,
            env=parse_env(env or []),
            headers=parse_headers(headers or []),
        )
    except MuxiError as exc:
        raise fail(exc) from None


def _run(coro: Coroutine[Any, Any, Any], message: str) -> Any:
    """Run ``coro`` with a spinner on stderr (when it is a terminal)."""
    import asyncio  # deferred: asyncio is slow to import

    status = err_console().status(message) if sys.stderr.isatty() else None
    if status is not None:
        status.start()
    try:
        return asyncio.run(coro)
    except MuxiError as exc:
        if status is not None:
            status.stop()
            status = None
        raise fail(exc) from None
    finally:
        if status is not None:
            status.stop()


def _stderr_tail(text: str) -> None:
    from rich.markup import escape  # deferred: rich is slow to import

    if text.strip():
        lines = text.strip().splitlines()[-15:]
        err_console().print("[dim]server stderr (last lines):[/dim]")
        err_console().print(f"[dim]{escape(chr(10).join(lines))}[/dim]")


def _summary_line(counts: dict[str, int], ok: bool, seconds: float) -> str:
    parts = [f"{counts['fail']} failed", f"{counts['warn']} warning(s)", f"{counts['pass']} passed"]
    if counts.get("skip"):
        parts.append(f"{counts['skip']} skipped")
    mark = "[green]✓ OK[/green]" if ok else "[red]✗ FAILED[/red]"
    return f"{mark}  " + ", ".join(parts) + f"  [dim]({seconds:.1f} s)[/dim]"


def _verdict(status: str) -> str:
    return f"[{_STYLE.get(status, 'white')}]{_MARK.get(status, '?')} {status}[/]"


def _heading(target: dict[str, Any], server: dict[str, Any]) -> str:
    """``name version (transport: where)``: the first line of a report."""
    from rich.markup import escape  # deferred: rich is slow to import

    name = f"{server.get('name') or target['name']} {server.get('version') or ''}".strip()
    return f"[bold]{escape(name)}[/bold] [dim]({target['transport']}: {escape(target['display'])})[/dim]"


# -- validate -----------------------------------------------------------------------


def print_validation(report: ValidationReport, verbose: bool = False) -> None:
    from rich.markup import escape  # deferred: rich is slow to import

    from muxi_cli.mcpdev.validate import TITLES  # deferred: keeps start-up light

    console = out_console()
    console.print(_heading(report.target, report.server))
    if report.counts:
        c = report.counts
        console.print(
            f"[dim]{c['tools']} tool(s), {c['resources']} resource(s), "
            f"{c['resource_templates']} template(s), {c['prompts']} prompt(s)[/dim]"
        )
    rows: list[list[str]] = []
    order: list[str] = []
    for check in report.checks:
        if check.id not in order:
            order.append(check.id)
    for check_id in order:
        checks = report.by_id(check_id)
        title = TITLES.get(check_id, check_id)
        passed = [c for c in checks if c.status == "pass"]
        if verbose or len(passed) == 1:
            shown = checks
        else:
            shown = [c for c in checks if c.status != "pass"]
            if passed:
                rows.append([_verdict("pass"), title, f"{len(passed)} checked"])
        for check in shown:
            if check.subject == "server":
                detail = check.message
            else:
                detail = f"{check.subject}: {check.message}" if check.message else check.subject
            rows.append([_verdict(check.status), title, escape(detail)])
    print_table([Column("STATUS"), Column("CHECK"), Column("DETAILS", wrap=True)], rows)
    console.print(_summary_line(report.summary(), report.ok, report.duration_ms / 1000))


def validate_cmd(
    ctx: typer.Context,
    target: TargetArg,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 30.0,
    start_timeout: StartTimeoutOpt = None,
    env: EnvOpt = None,
    header: HeaderOpt = None,
    no_call: Annotated[
        bool,
        typer.Option(
            "--no-call", help="Do not call read-only tools to check their structured results."
        ),
    ] = False,
    slow_ms: Annotated[
        int, typer.Option("--slow-ms", help="Warn when the server takes longer than this to start.")
    ] = 2000,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every passed check.")
    ] = False,
) -> None:
    """Check a server for what trips clients up: schemas, names, descriptions, stdout.

    Also times its start. Exit 1 when any check fails (warnings do not fail).
    """
    from muxi_cli.mcpdev.validate import validate  # deferred: keeps start-up light

    resolved = _target(ctx, target, env, header)
    report: ValidationReport = _run(
        validate(
            resolved,
            timeout=timeout,
            start_timeout=start_timeout,
            slow_ms=slow_ms,
            call=not no_call,
        ),
        f"Validating {resolved.display}…",
    )
    if json_out:
        print_json(report.to_dict())
    else:
        print_validation(report, verbose)
        _stderr_tail(report.stderr)
    if not report.ok:
        raise typer.Exit(1)


# -- test -----------------------------------------------------------------------------


def print_tests(report: TestReport, verbose: bool = False) -> None:

    from rich.markup import escape  # deferred: rich is slow to import

    console = out_console()
    console.print(_heading(report.target, report.server))
    if report.error:
        console.print(f"[red]✗ could not connect:[/red] {escape(report.error)}")
        return
    rows: list[list[str]] = []
    for item in report.items:
        detail = item.message.strip().splitlines()[0] if item.message.strip() else item.output
        if len(detail) > 160:
            detail = detail[:159] + "…"
        if verbose and item.arguments is not None:
            detail = f"{json.dumps(item.arguments, ensure_ascii=False)}  {detail}".strip()
        label = f"{item.kind} {item.name}" + (f" · {item.variant}" if item.variant else "")
        rows.append(
            [
                _verdict(item.verdict),
                escape(label),
                item.status,
                f"{item.duration_ms:.0f} ms" if item.status != "skipped" else "",
                escape(detail),
            ]
        )
    columns = [Column("VERDICT"), Column("ITEM", wrap=True), Column("STATUS")]
    columns += [Column("TIME", justify="right"), Column("DETAILS", wrap=True)]
    print_table(columns, rows)
    if report.restarts:
        console.print(
            f"[yellow]the server was restarted {report.restarts} time(s) during the run[/yellow]"
        )
    if report.stdout_noise:
        console.print(
            f"[yellow]the server printed {len(report.stdout_noise)} non-protocol line(s) on stdout "
            "(run `muxi mcp validate` for details)[/yellow]"
        )
    console.print(_summary_line(report.summary(), report.ok, report.duration_ms / 1000))
    for item in report.items:
        _, _, tail = item.message.partition("stderr (last lines):\n")
        if item.status == "crash" and tail:
            lines = "\n".join(tail.strip().splitlines()[-5:])
            console.print(
                f"[dim]{escape(item.name)} crashed; server stderr (last lines):\n{escape(lines)}[/dim]"
            )
            break


def run_tests_cmd(
    ctx: typer.Context,
    target: TargetArg,
    cases: Annotated[
        Path | None,
        typer.Option(
            "--cases",
            "-c",
            help="YAML or JSON list of {tool, arguments, expect: {contains, json, error}} to run too.",
            dir_okay=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
    timeout: TimeoutOpt = 10.0,
    start_timeout: StartTimeoutOpt = None,
    env: EnvOpt = None,
    header: HeaderOpt = None,
    skip: Annotated[
        list[str] | None,
        typer.Option("--skip", metavar="TOOL", help="Do not call this tool (repeatable)."),
    ] = None,
    include_destructive: Annotated[
        bool,
        typer.Option("--include-destructive", help="Also call tools annotated destructiveHint."),
    ] = False,
    no_generate: Annotated[
        bool, typer.Option("--no-generate", help="Run only the --cases, no generated calls.")
    ] = False,
    no_invalid: Annotated[
        bool, typer.Option("--no-invalid", help="Do not send invalid arguments.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the arguments of every call.")
    ] = False,
) -> None:
    """Call every tool with generated arguments, read every resource, render every prompt.

    Valid and invalid arguments are sent; --cases adds your own calls with expected results.
    Reports timings, errors, crashes and hangs. Exit 1 on a crash, a hang, an error result to valid arguments, a result that breaks its output schema or a failed case.
    """
    from muxi_cli.mcpdev.testing import load_cases, run_tests  # deferred: keeps start-up light

    resolved = _target(ctx, target, env, header)
    loaded = []
    if cases is not None:
        try:
            loaded = load_cases(cases)
        except MuxiError as exc:
            raise fail(exc) from None
    report: TestReport = _run(
        run_tests(
            resolved,
            timeout=timeout,
            start_timeout=start_timeout,
            cases=loaded,
            generated=not no_generate,
            invalid=not no_invalid,
            include_destructive=include_destructive,
            skip=set(skip or []),
        ),
        f"Testing {resolved.display}…",
    )
    if json_out:
        print_json(report.to_dict())
    else:
        print_tests(report, verbose)
        if report.error:
            _stderr_tail(report.stderr)
    if not report.ok:
        raise typer.Exit(1)


# -- docs -----------------------------------------------------------------------------


def docs_cmd(
    ctx: typer.Context,
    target: TargetArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file instead of stdout.", dir_okay=False
        ),
    ] = None,
    timeout: TimeoutOpt = 30.0,
    start_timeout: StartTimeoutOpt = None,
    env: EnvOpt = None,
    header: HeaderOpt = None,
) -> None:
    """Write Markdown documentation of a server from what it reports.

    Tools with parameter tables and example calls, resources, templates and prompts.
    """

    from muxi_cli.mcpdev.docs import generate  # deferred: keeps start-up light

    resolved = _target(ctx, target, env, header)
    text: str = _run(
        generate(resolved, timeout=timeout, start_timeout=start_timeout),
        f"Reading {resolved.display}…",
    )
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        write_output_file(output, text, private=False)
    except MuxiError as exc:
        raise fail(exc) from None
    info(f"Wrote {output} ({len(text.splitlines())} lines)")


# -- inspect ----------------------------------------------------------------------------


def inspect_cmd(
    ctx: typer.Context,
    target: TargetArg,
    timeout: TimeoutOpt = 30.0,
    start_timeout: StartTimeoutOpt = None,
    env: EnvOpt = None,
    header: HeaderOpt = None,
) -> None:
    """Browse a server's tools, resources and prompts in a terminal UI and call them.

    Fill a tool's arguments in a form built from its schema and see the raw result.
    """

    resolved = _target(ctx, target, env, header)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise fail(
            UsageError(
                "`muxi mcp inspect` needs an interactive terminal",
                "In scripts use `muxi mcp validate`, `muxi mcp test --json` or `muxi mcp docs`.",
            )
        )
    from muxi_cli.tui.logs import configure_file_logging  # deferred: keeps start-up light

    configure_file_logging()
    from muxi_cli.mcpdev.session import DevSession  # deferred: loads asyncio
    from muxi_cli.tui.mcp_inspect import (
        McpInspectApp,  # deferred: loads asyncio, platformdirs, rich
    )

    McpInspectApp(DevSession(resolved, timeout=timeout, start_timeout=start_timeout)).run()


def register(app: typer.Typer) -> None:
    """Add the developer commands to the ``muxi mcp`` group."""
    app.command("validate")(validate_cmd)
    app.command("test")(run_tests_cmd)
    app.command("docs")(docs_cmd)
    app.command("inspect")(inspect_cmd)
    from muxi_cli.cli import mcp_conformance  # deferred: hidden, only for the conformance suite

    mcp_conformance.register(app)
