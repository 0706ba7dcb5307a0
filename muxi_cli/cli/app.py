"""The root ``muxi`` command and the registry of its sub-commands.

Every sub-command is registered here, in :data:`COMMANDS`, and nowhere else:
no command module adds commands to another by being imported. A group made of
several modules names the extra ones in ``extends``; each has a
``register(app)`` that adds its commands to the group's Typer.

Sub-commands load lazily: ``muxi --help`` lists them from :data:`COMMANDS`
without importing their modules, and ``muxi chat ...`` imports only the chat
module. The global options ``--profile`` and ``--config`` are read by the
root group itself, so answering ``--help`` never builds a value parser.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Any, NamedTuple

import typer
from typer import _click as click  # typer vendors its own click
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from muxi_cli import __version__
from muxi_cli.cli.context import CliState
from muxi_cli.cli.output import run_app
from muxi_cli.cli.tui_launch import launch_tui

HELP = """muxi: chat with AI agents, script them, serve them, and build MCP servers for them.

Run `muxi` with no arguments in a terminal to open the chat app.

\b
Global options (before the command):
  -P, --profile NAME  connection profile; 'local' runs agents here ($MUXI_PROFILE)
  --config FILE       formation file to use ($MUXI_CONFIG)
  -v, --verbose       say on stderr how the command runs (warm host or in-process)
"""


class Command(NamedTuple):
    """One sub-command of ``muxi``."""

    name: str
    #: The module that defines it, and the attribute: a function or a Typer group.
    module: str
    attr: str
    #: "command" (a function) or "group" (a Typer sub-app).
    kind: str
    #: The one-line help ``muxi --help`` shows (without importing the module).
    help: str
    #: Modules whose ``register(app)`` adds more commands to this group, in order.
    extends: tuple[str, ...] = ()


#: The sub-commands, in the order of ``muxi --help``.
COMMANDS: list[Command] = [
    Command("chat", "muxi_cli.cli.chat", "chat", "command",
            "Send one message to an agent and print the reply."),
    Command("agents", "muxi_cli.cli.agents", "app", "group",
            "List and inspect the formation's agents."),
    Command("sessions", "muxi_cli.cli.sessions", "app", "group",
            "List, show, export, rename and delete sessions."),
    Command("stats", "muxi_cli.cli.stats", "stats", "command",
            "Turns, tokens, cost, latency, tools and routing of the recorded runs."),
    Command("memory", "muxi_cli.cli.memory", "app", "group",
            "Browse, search, add, forget and maintain long-term memory.",
            extends=("muxi_cli.cli.memory_store",)),
    Command("knowledge", "muxi_cli.cli.knowledge", "app", "group",
            "Ingest and list the agents' knowledge files."),
    Command("mcp", "muxi_cli.cli.mcp", "app", "group",
            "MCP servers: status, logins, tools, calls, prompts, resources, validation.",
            extends=("muxi_cli.cli.mcp_login", "muxi_cli.cli.mcp_dev")),
    Command("tools", "muxi_cli.cli.tools_cmd", "app", "group",
            "Everything the agents can call."),
    Command("create", "muxi_cli.cli.create", "app", "group",
            "Scaffold new projects (MCP servers)."),
    Command("serve", "muxi_cli.cli.serve", "serve", "command",
            "Serve the agents over HTTP, SSE and WebSocket."),
    Command("profile", "muxi_cli.cli.profile", "app", "group",
            "Connection profiles for remote muxi servers."),
    Command("keys", "muxi_cli.cli.keys", "app", "group",
            "Provider API keys (keyring) and server API keys.",
            extends=("muxi_cli.cli.server_keys",)),
    Command("init", "muxi_cli.cli.init", "init", "command",
            "Write a commented starter muxi.yaml."),
    Command("config", "muxi_cli.cli.config_cmd", "app", "group",
            "Show, locate and validate the formation file."),
    Command("doctor", "muxi_cli.cli.doctor", "doctor", "command",
            "Check the environment and say what to fix."),
    Command("host", "muxi_cli.cli.host", "app", "group",
            "The warm local host: start, status, stop, logs."),
    Command("web", "muxi_cli.cli.web", "web", "command",
            "Serve the chat app in a browser (a one-time link on 127.0.0.1)."),
]  # fmt: skip
_BY_NAME = {entry.name: entry for entry in COMMANDS}

#: Global options the root group reads itself: flag -> key in ``ctx.meta``.
GLOBAL_OPTIONS = {"--profile": "profile", "-P": "profile", "--config": "config"}
#: Global flags (no value): flag -> key in ``ctx.meta``.
GLOBAL_FLAGS = {"-v": "verbose", "--verbose": "verbose"}


def _target(entry: Command) -> Any:
    """The function or Typer group behind ``entry``, with its extensions registered."""
    target = getattr(importlib.import_module(entry.module), entry.attr)
    if entry.extends:
        _extend(entry.name, target)
    return target


@functools.cache
def _extend(name: str, group: Any) -> None:
    """Add the ``extends`` modules' commands to ``group``, once per process."""
    for module in _BY_NAME[name].extends:
        importlib.import_module(module).register(group)


def load_command(name: str) -> click.Command | None:
    """Import one sub-command and turn it into a click command."""
    entry = _BY_NAME.get(name)
    if entry is None:
        return None
    target = _target(entry)
    command: click.Command
    if entry.kind == "group":
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    from muxi_cli.cli import fastparams  # deferred: only a command that runs needs it

    fastparams.install(command)  # option values without pydantic (~50 ms)
    return command


class LazyGroup(TyperGroup):
    """Lists commands from the registry; imports one only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [entry.name for entry in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(entry.name, entry.help) for entry in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        # Flags left at ``None`` would each be run through a value parser that
        # imports pydantic; a plain ``False`` skips that, keeping `--help` fast.
        params = super().get_params(ctx)
        for param in params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and descriptor.annotation is bool and param.default is None:
                param.default = False
        return params

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if not arg.startswith("-") or arg == "--":
                rest.extend(args[i:])
                break
            if arg in GLOBAL_FLAGS:
                ctx.meta[f"muxi.{GLOBAL_FLAGS[arg]}"] = True
                i += 1
                continue
            flag, eq, value = arg.partition("=")
            key = GLOBAL_OPTIONS.get(flag)
            if key is None:
                rest.append(arg)
                i += 1
                continue
            if not eq:
                if i + 1 >= len(args):
                    raise UsageError(f"option {flag} needs a value", ctx=ctx)
                value = args[i + 1]
                i += 1
            ctx.meta[f"muxi.{key}"] = value
            i += 1
        return super().parse_args(ctx, rest)


app = typer.Typer(
    name="muxi",
    cls=LazyGroup,
    help=HELP,
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from muxi_cli.parts import installed_parts  # deferred: only for --version

        names = ", ".join(part.name for part in installed_parts())
        typer.echo(f"muxi {__version__} (parts: {names})")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Show the version and the installed parts, and exit.",
    ),
) -> None:

    ctx.obj = CliState(
        profile=ctx.meta.get("muxi.profile"),
        config=ctx.meta.get("muxi.config"),
        verbose=bool(ctx.meta.get("muxi.verbose")) or os.environ.get("MUXI_VERBOSE") == "1",
    )
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("CI"):
            launch_tui(ctx.obj)
            raise typer.Exit()
        typer.echo(ctx.get_help())
        raise typer.Exit()


def run() -> None:

    run_app(app)
