"""``muxi create``: new projects. ``muxi create mcp-server`` scaffolds an MCP server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from muxi_cli.cli import output
from muxi_cli.cli.context import state
from muxi_cli.cli.output import err_console, out_console
from muxi_cli.errors import MuxiError, UsageError

app = typer.Typer(
    name="create",
    help="Create new projects (an MCP server with tests, README and client configuration).",
    no_args_is_help=True,
)

_EPILOG = """\b
Examples:
  muxi create mcp-server                                   # asks the questions
  muxi create mcp-server --name weather --tool forecast --no-input
  muxi create mcp-server --name weather --transport http --dockerfile --no-input --json
  muxi create mcp-server --name weather --register --no-input   # and add it to muxi.yaml
  muxi create mcp-server weather --register-only   # existing project: (re)register it, e.g. its .venv

Exit codes: 0 done, 1 could not write, 2 invalid name or options (with a suggestion).
"""


@app.command("mcp-server", epilog=_EPILOG)
def mcp_server(
    ctx: typer.Context,
    name_arg: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Project name (same as --name).")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", "-n", help="Project name: letters, digits, '-' and '_'."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="One-line description.")
    ] = None,
    tool: Annotated[
        list[str] | None,
        typer.Option(
            "--tool",
            "-t",
            metavar="NAME",
            help="Name of an example tool to generate (repeatable; default: word_count).",
        ),
    ] = None,
    no_tools: Annotated[bool, typer.Option("--no-tools", help="Generate no example tool.")] = False,
    resources: Annotated[
        bool | None,
        typer.Option("--resources/--no-resources", help="Example resource and resource template."),
    ] = None,
    prompts: Annotated[
        bool | None, typer.Option("--prompts/--no-prompts", help="Example prompt.")
    ] = None,
    transport: Annotated[
        str | None,
        typer.Option("--transport", help="stdio, http (streamable HTTP) or both (default: both)."),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--author", help='"Name <email>" (default: from git config).'),
    ] = None,
    dockerfile: Annotated[
        bool | None,
        typer.Option("--dockerfile/--no-dockerfile", help="Add a Dockerfile (HTTP, non-root)."),
    ] = None,
    extras: Annotated[
        bool | None,
        typer.Option(
            "--extras/--no-extras",
            help="MCP feature examples: logging, completions, a progress tool, an image tool "
            "(default: on).",
        ),
    ] = None,
    register: Annotated[
        bool | None,
        typer.Option(
            "--register/--no-register",
            help="Add the server to the current muxi.yaml (and its default agent).",
        ),
    ] = None,
    register_only: Annotated[
        bool,
        typer.Option(
            "--register-only",
            help="Generate nothing: add the existing project to muxi.yaml, or update its entry "
            "(to the project's .venv once it has one).",
        ),
    ] = False,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Project folder (default: ./NAME)."),
    ] = None,
    no_input: Annotated[
        bool,
        typer.Option(
            "--no-input",
            help="Ask nothing: use flags and defaults (implied when stdin is not a terminal).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the files that would be written; write nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Write into a non-empty folder.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")
    ] = False,
) -> None:
    """Scaffold an MCP server project (Python, MCP SDK 2.x) that works out of the box."""

    try:
        if name_arg and name and name_arg != name:
            raise UsageError(
                f"two names given: {name_arg!r} and --name {name!r}", hint="Give the name once."
            )
        if no_tools and tool:
            raise UsageError(
                "--tool and --no-tools contradict each other", hint="Drop one of them."
            )
        if register_only:
            # Writes no project file, so the generation flags have nothing to act on.
            if force or register is False:
                raise UsageError(
                    "--register-only cannot be combined with --force or --no-register",
                    hint="--register-only only edits muxi.yaml; drop the other flag.",
                )
            run_register_only(
                ctx,
                name or name_arg,
                transport=transport.lower() if transport else None,
                output_dir=output_dir,
                dry_run=dry_run,
                json_output=json_output,
            )
            return
        run_create(
            ctx,
            dict(
                name=name or name_arg,
                description=description,
                tools=[] if no_tools else tool,
                resources=resources,
                prompts=prompts,
                transport=transport.lower() if transport else None,
                author=author,
                dockerfile=dockerfile,
                register=register,
                extras=extras,
            ),
            output_dir=output_dir,
            interactive=not no_input and sys.stdin.isatty(),
            dry_run=dry_run,
            force=force,
            json_output=json_output,
        )
    except MuxiError as exc:
        raise output.fail(exc) from None


def run_create(
    ctx: typer.Context | None,
    flags: dict[str, Any],
    *,
    output_dir: Path | None,
    interactive: bool,
    dry_run: bool,
    force: bool,
    json_output: bool,
    prompter: Any = None,
) -> dict[str, Any]:
    """The command's work, callable from tests with a scripted ``prompter``."""
    from muxi_cli.scaffold.generate import (  # deferred: keeps start-up light
        check_target,
        plan_project,
        summary,
        write_plan,
    )
    from muxi_cli.scaffold.options import (  # deferred: keeps start-up light
        DEFAULT_NAME,
        DEFAULT_TRANSPORT,
        build_options,
    )
    from muxi_cli.scaffold.register import (  # deferred: keeps start-up light
        find_formation_file,
        register_server,
        snippet,
    )

    config = state(ctx).config if ctx is not None else None
    formation = find_formation_file(config)
    if interactive:
        from muxi_cli.scaffold.interactive import (  # deferred: keeps start-up light
            PromptToolkitPrompter,
            ask,
        )

        answers = ask(prompter or PromptToolkitPrompter(), formation=formation, **flags)
        values: dict[str, Any] = dict(answers.__dict__)
    else:
        values = {
            "name": flags["name"] or DEFAULT_NAME,
            "description": flags["description"],
            "tools": flags["tools"],
            "resources": True if flags["resources"] is None else flags["resources"],
            "prompts": True if flags["prompts"] is None else flags["prompts"],
            "transport": flags["transport"] or DEFAULT_TRANSPORT,
            "author": flags["author"],
            "dockerfile": bool(flags["dockerfile"]),
            "register": bool(flags["register"]),
            "extras": flags.get("extras") is not False,
        }
    options = build_options(output_dir=output_dir, **values)

    if options.register:
        if formation is None:
            raise UsageError(
                "--register needs a muxi.yaml, and none was found",
                hint="Run `muxi init` first, pass --config FILE, or leave out --register.",
            )
        _precheck_registration(formation, options.name.dist)

    plan = plan_project(options)
    registered: dict[str, Any] | None = None
    if dry_run:
        check_target(plan.project_dir, force=force)
        if options.register and formation is not None:
            from muxi_cli.scaffold.register import server_entry  # deferred: keeps start-up light

            registered = {"formation": str(formation), "server": options.name.dist, "dry_run": True}
            registered["snippet"] = snippet(options.name.dist, server_entry(options))
    else:
        write_plan(plan, force=force)
        if options.register and formation is not None:
            registered = register_server(formation, options).to_dict()

    result = summary(plan, dry_run=dry_run, registered=registered)
    if json_output:
        output.print_json(result)
    else:
        _print_human(result)
    return result


def run_register_only(
    ctx: typer.Context | None,
    name: str | None,
    *,
    transport: str | None,
    output_dir: Path | None,
    dry_run: bool,
    json_output: bool,
) -> dict[str, Any]:
    """``--register-only``: register an existing project, or point its entry at its venv."""
    from muxi_cli.scaffold.options import (  # deferred: keeps start-up light
        DEFAULT_TRANSPORT,
        build_options,
    )
    from muxi_cli.scaffold.register import (  # deferred: keeps start-up light
        find_formation_file,
        server_entry,
        snippet,
    )
    from muxi_cli.scaffold.reregister import (  # deferred: keeps start-up light
        check_project,
        reregister_server,
    )

    if not name:
        raise UsageError(
            "--register-only needs the project's name",
            hint="muxi create mcp-server NAME --register-only [--output-dir FOLDER]",
        )
    formation = find_formation_file(state(ctx).config if ctx is not None else None)
    if formation is None:
        raise UsageError(
            "--register-only needs a muxi.yaml, and none was found",
            hint="Run `muxi init` first, or pass --config FILE.",
        )
    options = build_options(
        name=name,
        description=None,
        tools=None,  # the defaults: nothing is generated, only the names and transport count
        resources=True,
        prompts=True,
        transport=transport or DEFAULT_TRANSPORT,
        author="muxi",  # not used: nothing is generated
        dockerfile=False,
        register=True,
        output_dir=output_dir,
    )
    if dry_run:
        check_project(options)
        entry = server_entry(options)
        result: dict[str, Any] = {
            "formation": str(formation),
            "server": options.name.dist,
            "entry": entry,
            "dry_run": True,
        }
        if not json_output:
            err = output.err_console()
            err.print(f"Would register {options.name.dist} in {formation}:", markup=False)
            err.print(snippet(options.name.dist, entry).rstrip(), markup=False)
    else:
        result = reregister_server(formation, options).to_dict()
        if not json_output:
            _print_human({"dry_run": False, "registered": result}, files=False)
    if json_output:
        output.print_json(result)
    return result


def _precheck_registration(formation: Path, server: str) -> None:
    """Fail before writing anything if the registration cannot succeed."""
    from muxi_cli.config.loader import load_formation  # deferred: keeps start-up light

    loaded = load_formation(formation)
    if server in loaded.formation.mcp_servers:
        raise UsageError(
            f"{formation} already has an MCP server named {server!r}",
            hint="Choose another --name, remove that entry, or leave out --register.",
        )


def _print_human(result: dict[str, Any], *, files: bool = True) -> None:
    """Files on stdout (the result); registration notes and next steps on stderr."""
    from rich.markup import escape  # deferred: rich is slow to import

    out, err = out_console(), err_console()
    if files:
        path = escape(result["path"])
        verb = "Would create" if result["dry_run"] else "Created"
        out.print(f"{verb} {path} ({len(result['files'])} files):")
        for file in result["files"]:
            out.print(f"  {escape(file)}")
    reg = result.get("registered")
    if reg and result["dry_run"]:
        err.print(
            f"\nWould register [bold]{escape(reg['server'])}[/bold] in {escape(reg['formation'])}:"
        )
        err.print(escape(reg["snippet"]).rstrip())
    elif reg:
        agent = f" for agent {escape(reg['agent'])}" if reg.get("agent") else ""
        err.print(
            f"\n[green]Registered[/green] [bold]{escape(reg['server'])}[/bold] "
            f"in {escape(reg['formation'])}{agent}; try: muxi mcp tools {escape(reg['server'])}"
        )
        for note in reg.get("notes", []):
            err.print(f"[yellow]note:[/yellow] {escape(note)}")
    if not result["dry_run"] and files:
        err.print("\nNext steps:")
        for step in result["next_steps"]:
            err.print(f"  {escape(step)}")
        err.print("README.md has client configuration and MCP Inspector commands.")
