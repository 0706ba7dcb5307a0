"""``muxi memory``: list, search, add, show and forget memories; admin the store.

``list``, ``search``, ``add``, ``show`` and ``forget ID`` go through the
:class:`~muxi_cli.runtime.base.Runtime`, so they work locally and against a remote
``muxi serve``. The store administration commands (``forget --all``, ``export``,
``import``, ``prune``, ``stats``, ``reindex``, ``optimize``) work on this
machine's store only and refuse a remote profile.

``--user`` defaults to the local user id (``MUXI_USER_ID`` or the OS user name),
or through a profile to the user the server's key acts as (another ``--user``
needs an admin key); ``--user '*'`` is the shared domain knowledge of every user.

Exit codes: 0 ok, 1 runtime error or a declined confirmation, 2 usage error or
unknown memory id.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from muxi_cli.cli.context import acting_user, run_with_runtime
from muxi_cli.errors import MuxiError, UsageError

if TYPE_CHECKING:
    from rich.progress import Progress

    from muxi_cli.memory.service import MemoryService
    from muxi_cli.protocol.records import MemoryItem
    from muxi_cli.runtime.base import Runtime

T = TypeVar("T")

app = typer.Typer(
    help="Long-term memory: list, search, add, forget; export, import, prune, reindex.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

UserOpt = Annotated[
    str | None,
    typer.Option("--user", "-u", help="User id (default: you). '*' = shared knowledge."),
]
KindOpt = Annotated[
    str | None, typer.Option("--kind", "-k", help="Only this kind (fact, knowledge, ...).")
]
AgentOpt = Annotated[str | None, typer.Option("--agent", "-a", help="Only this agent's memories.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _user(user: str | None) -> str:
    """``--user`` for the local-only commands: given, else this machine's user id."""
    if user:
        return user
    from muxi_cli.runtime.users import local_user_id

    return local_user_id()


def run_admin(ctx: typer.Context, command: str, work: Callable[[MemoryService], Awaitable[T]]) -> T:
    """Run ``work`` with a :class:`MemoryService` on this machine's store (local profile only)."""
    import asyncio

    from muxi_cli.cli.context import local_formation
    from muxi_cli.cli.output import fail

    try:
        formation, base_dir = local_formation(ctx, command, "works on this machine's memory store")
        from muxi_cli.memory.service import MemoryService

        async def main() -> T:
            service = MemoryService(formation, None, base_dir=base_dir)
            try:
                return await work(service)
            finally:
                await service.aclose()

        return asyncio.run(main())
    except MuxiError as exc:
        raise fail(exc) from None


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _owner(user_id: str) -> str:
    """A memory's owner for messages: a user id, or the shared knowledge."""
    return "every user (shared knowledge)" if user_id == "*" else repr(user_id)


def _table(items: list[MemoryItem], *, score: bool = False, user: str | None = None) -> None:
    """Memories as a table; with ``user``, a FROM column tells theirs from shared knowledge."""
    from rich.markup import escape

    from muxi_cli.cli.output import Column, print_table

    columns = [Column("ID"), Column("KIND")]
    if score:
        columns.append(Column("SCORE", justify="right"))
    if user is not None:
        columns.append(Column("FROM"))
    columns += [Column("TEXT", wrap=True), Column("CREATED")]
    rows = []
    for item in items:
        cells = [escape(item.id), escape(item.kind)]
        if score:
            cells.append(f"{item.score:.3f}" if item.score is not None else "")
        if user is not None:
            cells.append("shared" if item.user_id == "*" and user != "*" else escape(item.user_id))
        rows.append([*cells, escape(_short(item.text, 200)), item.created_at[:10]])
    print_table(columns, rows)


def _confirm(question: str, yes: bool) -> None:
    from muxi_cli.cli.output import fail

    if yes:
        return
    if not sys.stdin.isatty():
        raise fail(
            UsageError("not deleting without confirmation", "pass --yes to confirm in scripts")
        )
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- runtime commands
# Each resolves the user first (acting_user): through a profile the server decides
# whom a key acts as, and messages must name that user, not this machine's.


@app.command("list")
def list_memories(
    ctx: typer.Context,
    user: UserOpt = None,
    kind: KindOpt = None,
    agent: AgentOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N memories.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List a user's memories, newest first."""
    from muxi_cli.cli.output import info, print_json

    async def work(rt: Runtime) -> tuple[str, list[MemoryItem]]:
        uid = await acting_user(rt, user)
        return uid, await rt.memory_list(user_id=uid, kind=kind, limit=limit, agent=agent)

    uid, items = run_with_runtime(ctx, work)
    if as_json:
        print_json([i.to_dict() for i in items])
        return
    if not items:
        info(f"No memories for {_owner(uid)}" + (f" from agent {agent!r}." if agent else "."))
        return
    _table(items)


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for (meaning and words).")],
    user: UserOpt = None,
    kind: KindOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N results.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Search what a chat turn recalls: a user's memories plus the shared knowledge."""
    from muxi_cli.cli.output import info, print_json

    async def work(rt: Runtime) -> tuple[str, list[MemoryItem]]:
        uid = await acting_user(rt, user)
        return uid, await rt.memory_search(query, user_id=uid, kind=kind, limit=limit)

    uid, items = run_with_runtime(ctx, work)
    if as_json:
        print_json([i.to_dict() for i in items])
        return
    scope = "the shared knowledge" if uid == "*" else f"memories of {uid!r} and shared knowledge"
    if not items:
        info(f"No matches in {scope}.")
        return
    _table(items, score=True, user=uid)
    info(f"searched {scope}")


@app.command("add")
def add(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The fact or knowledge to remember.")],
    user: UserOpt = None,
    kind: Annotated[
        str, typer.Option("--kind", "-k", help="fact, or knowledge (domain knowledge).")
    ] = "fact",
    shared: Annotated[
        bool, typer.Option("--shared", help="Shared knowledge for every user (same as --user '*').")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remember something for a user (duplicates are merged, not stored twice)."""
    from muxi_cli.cli.output import info, print_json

    async def work(rt: Runtime) -> MemoryItem:
        uid = await acting_user(rt, "*" if shared else user)
        return await rt.memory_add(text, user_id=uid, kind=kind)

    item = run_with_runtime(ctx, work)
    if as_json:
        print_json(item.to_dict())
        return
    sys.stdout.write(item.id + "\n")
    # The owner the store reports, not the one asked for: the server decides for its keys.
    info(f"remembered for {_owner(item.user_id)}: {_short(item.text)}")


async def _find(runtime: Runtime, memory_id: str, user: str | None) -> tuple[str, MemoryItem]:
    """The acting user and their memory ``memory_id`` (an id or a unique 6+ character prefix)."""
    uid = await acting_user(runtime, user)
    return uid, await runtime.memory_get(memory_id, user_id=uid)


@app.command("show")
def show(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(help="Memory id (or a unique start of it).")],
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one memory."""
    from muxi_cli.cli.output import out_console, print_json

    _uid, item = run_with_runtime(ctx, lambda rt: _find(rt, memory_id, user))
    if as_json:
        print_json(item.to_dict())
        return
    from rich.markup import escape

    from muxi_cli.termtext import strip_controls

    console = out_console()
    console.print(f"[bold]{escape(item.id)}[/bold]  {escape(item.kind)}")
    console.print(escape(strip_controls(item.text)))  # memories are model-written
    details = [
        ("user", item.user_id),
        ("created", item.created_at),
        ("importance", f"{item.importance:.2f}"),
        ("agent", item.agent or "-"),
        ("source", item.source or "-"),
    ]
    if item.superseded_by:
        details.append(("superseded by", item.superseded_by))
    for key, value in details:
        console.print(f"[dim]{key}:[/dim] {escape(str(value))}")


@app.command("forget")
def forget(
    ctx: typer.Context,
    memory_id: Annotated[
        str | None, typer.Argument(help="Memory id (or a unique start of it).")
    ] = None,
    user: UserOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Erase every memory of --user (local store only).")
    ] = False,
    yes: YesOpt = False,
) -> None:
    """Forget one memory, or with --all everything about one user. Shows what goes first."""
    from muxi_cli.cli.output import err_console, fail, info

    if all_ == (memory_id is not None):
        raise fail(
            UsageError(
                "give either a memory id or --all",
                "muxi memory forget ID, or muxi memory forget --user ID --all",
            )
        )
    if all_:
        if user is None:
            raise fail(UsageError("--all needs an explicit --user", "e.g. --user alice --all"))
        uid = user

        async def count(service: MemoryService) -> int:
            return len(await service.list(uid, limit=1_000_000, include_superseded=True))

        total = run_admin(ctx, "memory forget --all", count)
        err_console().print(f"This erases all {total} memories of user {uid!r}.")
        _confirm(f"Erase everything muxi remembers about {uid!r}?", yes)
        gone = run_admin(ctx, "memory forget --all", lambda s: s.forget_user(uid))
        info(f"erased {gone} memories of {uid!r}")
        return
    assert memory_id is not None
    owner, item = run_with_runtime(ctx, lambda rt: _find(rt, memory_id, user))
    from rich.markup import escape

    err_console().print(
        f"Forgetting [bold]{escape(item.id)}[/bold]: {escape(_short(item.text))}", highlight=False
    )
    _confirm("Forget this memory (and its older versions)?", yes)
    run_with_runtime(ctx, lambda rt: rt.memory_forget(item.id, user_id=owner))
    info(f"forgot {item.id} of {_owner(item.user_id)}")


# ----------------------------------------------------------------------------- admin commands


def _progress(label: str) -> tuple[Progress, Callable[[int, int], None]]:
    """A progress bar on stderr; returns ``(context manager, callback(done, total))``."""
    from muxi_cli.cli.output import progress_bar

    bar = progress_bar()
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


@app.command("export")
def export(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user (default: every user).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE (default: stdout).")
    ] = None,
) -> None:
    """Export memories as JSONL (vectors and their model included); `import` reads it back."""
    from muxi_cli.cli.output import info
    from muxi_cli.memory import transfer

    async def work(service: MemoryService) -> int:
        records = await service.records()
        if output is None:
            return await transfer.export_memories(records, sys.stdout, user_id=user)
        import io

        from muxi_cli.cli.output import write_output_file

        buffer = io.StringIO()
        count = await transfer.export_memories(records, buffer, user_id=user)
        write_output_file(output, buffer.getvalue())
        return count

    count = run_admin(ctx, "memory export", work)
    info(f"exported {count} memories" + (f" to {output}" if output else ""))


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[
        str, typer.Argument(help="A JSONL file from `muxi memory export` ('-' = stdin).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Import memories exported by `muxi memory export` (same ids: importing twice updates)."""
    from muxi_cli.cli.output import fail, info, print_json
    from muxi_cli.memory import transfer

    if file == "-":
        items = list(transfer.read_lines(sys.stdin))
    else:
        path = Path(file)
        if not path.is_file():
            raise fail(UsageError(f"no file {file!r}", "give the path of an export file"))
        try:
            with path.open(encoding="utf-8") as stream:
                items = list(transfer.read_lines(stream))
        except MuxiError as exc:
            raise fail(exc) from None

    async def work(service: MemoryService) -> dict[str, int]:
        bar, update = _progress("re-embedding")
        with bar:
            return await transfer.import_rows(
                await service.store(), service.embedder, items, progress=update
            )

    result = run_admin(ctx, "memory import", work)
    if as_json:
        print_json(result)
        return
    info(f"imported {result['imported']} memories ({result['reembedded']} re-embedded)")


@app.command("prune")
def prune(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user (default: every user).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")
    ] = False,
    ttl_days: Annotated[
        float | None, typer.Option("--ttl-days", help="Override memory.ttl_days.")
    ] = None,
    max_per_user: Annotated[
        int | None, typer.Option("--max-per-user", help="Override memory.max_per_user.")
    ] = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Drop expired (TTL) and excess (per-user cap, lowest decay score) memories."""
    from muxi_cli.cli.output import err_console, info, print_json
    from muxi_cli.memory import prune as pruning

    async def plan(service: MemoryService, apply: bool) -> list[pruning.PruneItem]:
        settings = service.formation.memory
        return await pruning.prune(
            await service.records(),
            ttl_days=ttl_days if ttl_days is not None else settings.ttl_days,
            max_per_user=max_per_user if max_per_user is not None else settings.max_per_user,
            user_id=user,
            dry_run=not apply,
        )

    items = run_admin(ctx, "memory prune", lambda s: plan(s, False))
    rows = [
        {"id": i.row["id"], "user_id": i.row["user_id"], "reason": i.reason,
         "score": round(i.score, 4), "text": i.row["text"]}
        for i in items
    ]  # fmt: skip
    if not items:
        if as_json:
            print_json({"pruned": [], "dry_run": dry_run})
        else:
            info("Nothing to prune.")
        return
    if not as_json or not dry_run:
        for row in rows[:50]:
            err_console().print(
                f"{row['id']}  {row['user_id']}  {row['reason']}  {_short(row['text'], 60)}",
                highlight=False,
                markup=False,
            )
        if len(rows) > 50:
            err_console().print(f"... and {len(rows) - 50} more")
    if not dry_run:
        _confirm(f"Delete these {len(rows)} memories?", yes)
        run_admin(ctx, "memory prune", lambda s: plan(s, True))
    if as_json:
        print_json({"pruned": rows, "dry_run": dry_run})
    else:
        info(f"{'would prune' if dry_run else 'pruned'} {len(rows)} memories")


@app.command("stats")
def stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Counts, the embedding model, schema version and size of the memory store."""
    from muxi_cli.cli.output import out_console, print_json

    async def work(service: MemoryService) -> dict[str, object]:
        store = await service.store()
        rows = await (await service.records()).scan_all()
        meta = await store.meta()
        by_kind: dict[str, int] = {}
        users = set()
        superseded = 0
        for row in rows:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
            users.add(row["user_id"])
            superseded += row.get("superseded_by") is not None
        chunks = await (await service.chunks()).counts()
        agents: dict[str, int] = {}
        for (agent, _source), n in chunks.items():
            agents[agent] = agents.get(agent, 0) + n
        return {
            "uri": store.uri,
            "schema_version": int(meta.get("schema_version", "0")),
            "embedding_model": meta.get("embedding_model"),
            "configured_model": service.embedder.name,
            "needs_reindex": store.mismatch is not None,
            "memories": len(rows),
            "superseded": superseded,
            "users": len(users - {"*"}),
            "shared": sum(1 for r in rows if r["user_id"] == "*"),
            "by_kind": by_kind,
            "knowledge_chunks": agents,
            "versions": await store.versions(),
            "disk_bytes": store.disk_bytes(),
        }

    result = run_admin(ctx, "memory stats", work)
    if as_json:
        print_json(result)
        return
    console = out_console()
    for key, value in result.items():
        label = _STAT_LABELS.get(key, key.replace("_", " "))
        console.print(f"[dim]{label + ':':<18}[/dim] {_stat_text(key, value)}", highlight=False)


_STAT_LABELS = {"uri": "store", "versions": "table versions", "disk_bytes": "disk size"}


def _stat_text(key: str, value: object) -> str:
    """One ``muxi memory stats`` value for people: counts as ``a 2, b 1``, sizes in KiB/MiB."""
    from rich.markup import escape

    if isinstance(value, dict):
        text = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif key == "disk_bytes" and isinstance(value, int):
        text = _size(value)
    else:
        text = "-" if value is None else str(value)
    return escape(text)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover - the loop always returns


@app.command("reindex")
def reindex(ctx: typer.Context, yes: YesOpt = False) -> None:
    """Re-embed every memory and knowledge chunk with the configured embedding model."""
    from muxi_cli.cli.output import err_console, info
    from muxi_cli.memory import transfer

    async def before(service: MemoryService) -> tuple[str | None, str, int]:
        store = await service.store()
        meta = await store.meta()
        total = await store.count("memories") + await store.count("chunks")
        return meta.get("embedding_model"), service.embedder.name, total

    stored, configured, total = run_admin(ctx, "memory reindex", before)
    err_console().print(
        f"Re-embedding {total} rows: {stored} -> {configured}. Stop muxi servers using this "
        f"store first: writes made during a reindex are lost.",
        highlight=False,
        markup=False,
    )
    _confirm("Re-embed now?", yes)

    async def work(service: MemoryService) -> dict[str, int]:
        bar, update = _progress("re-embedding")
        with bar:
            return await transfer.reindex(await service.store(), service.embedder, progress=update)

    counts = run_admin(ctx, "memory reindex", work)
    info(f"re-embedded {counts.get('memories', 0)} memories and {counts.get('chunks', 0)} chunks")


@app.command("optimize")
def optimize(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Compact the store's files, refresh its indexes and drop old versions."""
    from muxi_cli.cli.output import info, print_json

    async def work(service: MemoryService) -> dict[str, object]:
        store = await service.store()
        before = store.disk_bytes()
        result = await store.optimize()
        return {"tables": result, "bytes_before": before, "bytes_after": store.disk_bytes()}

    result = run_admin(ctx, "memory optimize", work)
    if as_json:
        print_json(result)
        return
    tables: dict[str, dict[str, int]] = result["tables"]  # type: ignore[assignment]
    removed = sum(int(t["old_versions_removed"]) for t in tables.values())
    info(f"optimized: {removed} old versions removed")


@app.command("extraction")
def extraction(
    ctx: typer.Context,
    state_: Annotated[str | None, typer.Argument(metavar="[on|off]", help="Switch it.")] = None,
    user: UserOpt = None,
) -> None:
    """Show or switch long-term extraction for one user (agents can switch it off too)."""
    from muxi_cli.cli.output import fail, info

    if state_ not in (None, "on", "off"):
        raise fail(UsageError(f"expected on or off, not {state_!r}"))
    uid = _user(user)

    async def work(service: MemoryService) -> bool:
        if state_ is not None:
            await service.set_long_term(uid, state_ == "on")
        return await service.long_term_enabled(uid)

    enabled = run_admin(ctx, "memory extraction", work)
    sys.stdout.write(("on" if enabled else "off") + "\n")
    info(f"long-term extraction is {'on' if enabled else 'off'} for {uid!r}")
