"""The root ``muxi`` command and the registry of its sub-commands.

Every command module is imported here, so each one keeps its top level light:
typer, the standard library and muxi's own light modules only.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Any

import typer

from muxi_cli import __version__

HELP = """muxi: chat with AI agents, script them, serve them, and build MCP servers for them.

Run `muxi` with no arguments in a terminal to open the chat app.
"""

app = typer.Typer(
    name="muxi",
    help=HELP,
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

#: (module, attribute, name, kind) - kind "command" registers a function,
#: "group" adds a Typer sub-app. Order is the order of `muxi --help`.
COMMANDS: list[tuple[str, str, str, str]] = [
    ("muxi_cli.cli.chat", "chat", "chat", "command"),
    ("muxi_cli.cli.agents", "app", "agents", "group"),
    ("muxi_cli.cli.sessions", "app", "sessions", "group"),
    ("muxi_cli.cli.memory", "app", "memory", "group"),
    ("muxi_cli.cli.knowledge", "app", "knowledge", "group"),
    ("muxi_cli.cli.mcp", "app", "mcp", "group"),
    ("muxi_cli.cli.tools_cmd", "app", "tools", "group"),
    ("muxi_cli.cli.create", "app", "create", "group"),
    ("muxi_cli.cli.serve", "serve", "serve", "command"),
    ("muxi_cli.cli.profile", "app", "profile", "group"),
    ("muxi_cli.cli.keys", "app", "keys", "group"),
    ("muxi_cli.cli.init", "init", "init", "command"),
    ("muxi_cli.cli.config_cmd", "app", "config", "group"),
    ("muxi_cli.cli.doctor", "doctor", "doctor", "command"),
]


def _register() -> None:
    for module_name, attr, name, kind in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # pragma: no cover - only while a module is missing
            if exc.name == module_name:
                continue
            raise
        target: Any = getattr(module, attr)
        if kind == "group":
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"muxi {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-P",
            envvar="MUXI_PROFILE",
            help="Connection profile to use ('local' runs agents in this process).",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", envvar="MUXI_CONFIG", help="Formation file (muxi.yaml) to use."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    from muxi_cli.cli.context import CliState

    ctx.obj = CliState(profile=profile, config=config)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("CI"):
            from muxi_cli.cli.tui_launch import launch_tui

            launch_tui(ctx.obj)
            raise typer.Exit()
        typer.echo(ctx.get_help())
        raise typer.Exit()


_register()


def run() -> None:
    from muxi_cli.cli.output import run_app

    run_app(app)
