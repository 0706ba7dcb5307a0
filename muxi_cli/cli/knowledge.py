"""``muxi knowledge``: ingest agents' knowledge files and show what is ingested.

Agents get knowledge from ``knowledge: [{path, description}]`` in muxi.yaml
(files, folders or globs relative to the formation file) and from
``muxi knowledge add``. Only changed files are read again (by hash); files that
are gone are dropped. These commands work on this machine's store only, through
:mod:`muxi_cli.runtime.admin`.

Exit codes: 0 ok, 1 a file could not be ingested or a runtime error, 2 usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from muxi_cli.cli.context import run_admin
from muxi_cli.cli.output import fail, info, out_console, print_json, progress_bar, warn
from muxi_cli.errors import UsageError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from muxi_cli.config.schema import AgentConfig
    from muxi_cli.runtime.admin import IngestReport, MemoryAdmin

app = typer.Typer(
    help="Agent knowledge: add files, list what is ingested, rebuild.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

AgentOpt = Annotated[
    str | None, typer.Option("--agent", "-a", help="Agent name (default: every agent).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _bar() -> Progress:

    return progress_bar(file_column=True)


async def _ingest(
    admin: MemoryAdmin, agents: list[AgentConfig], *, force: bool, add: tuple[Path, str] | None
) -> list[IngestReport]:
    reports = []
    with _bar() as bar:
        for agent in agents:
            task = bar.add_task(agent.name, total=None, file="")

            def progress(done: int, total: int, source: str, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total, file=source)

            reports.append(await admin.ingest(agent, force=force, add=add, progress=progress))
    return reports


def _report(reports: list[IngestReport], as_json: bool) -> None:

    if as_json:
        print_json([r.to_dict() for r in reports])
    else:
        for r in reports:
            info(
                f"{r.agent}: {len(r.added)} added, {len(r.updated)} updated, "
                f"{len(r.unchanged)} unchanged, {len(r.removed)} removed ({r.chunks} new chunk{'' if r.chunks == 1 else 's'})"
            )
    failed = [(r.agent, src, err) for r in reports for src, err in r.errors.items()]
    for agent, source, error in failed:
        warn(f"{agent}: {source}: {error}")
    if failed:
        raise typer.Exit(1)


@app.command("add")
def add(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file, folder or glob to add.")],
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="Agent (default: the default agent).")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="What it is.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Add a file, folder or glob to an agent's knowledge and ingest it."""

    if not any(ch in str(path) for ch in "*?[") and not path.expanduser().exists():
        raise fail(
            UsageError(
                f"{str(path)!r} does not exist",
                "Check the path (a relative one starts from the current folder); "
                "quote a glob so the shell leaves it to muxi: 'docs/*.md'.",
            )
        )

    async def work(admin: MemoryAdmin) -> list[IngestReport]:
        target = admin.agents(agent)[0] if agent else admin.default_agent
        return await _ingest(admin, [target], force=False, add=(path, description))

    _report(run_admin(ctx, "knowledge add", work), as_json)


@app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    agent: AgentOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Read every file again, changed or not.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bring the ingested knowledge in line with the files (changed files only, unless --force)."""

    async def work(admin: MemoryAdmin) -> list[IngestReport]:
        return await _ingest(admin, admin.agents(agent), force=force, add=None)

    _report(run_admin(ctx, "knowledge rebuild", work), as_json)


@app.command("list")
def list_knowledge(ctx: typer.Context, agent: AgentOpt = None, as_json: JsonOpt = False) -> None:
    """Show each agent's knowledge entries and the ingested files with chunk counts."""

    result = run_admin(ctx, "knowledge list", lambda a: a.knowledge(a.agents(agent)))
    if as_json:
        print_json(result)
        return
    if not result:
        info("No agent has knowledge. Add some with `muxi knowledge add PATH --agent NAME`.")
        return
    from rich.markup import escape  # deferred: rich is slow to import

    console = out_console()
    for item in result:
        console.print(f"[bold]{escape(str(item['agent']))}[/bold]")
        for entry in item["entries"]:
            note = " [dim](added with muxi knowledge add)[/dim]" if entry["added_with_cli"] else ""
            desc = f" - {escape(entry['description'])}" if entry["description"] else ""
            console.print(f"  {escape(entry['path'])}{desc}{note}")
        files = item["files"]
        if not files:
            console.print("  [dim]nothing ingested yet: run `muxi knowledge rebuild`[/dim]")
        for f in files:
            chunks = f"{f['chunks']} chunk" + ("" if f["chunks"] == 1 else "s")
            console.print(f"    {escape(f['source'])} [dim]{chunks}[/dim]")
