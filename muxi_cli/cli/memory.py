"""``muxi memory``: list, search, add, show and forget memories; admin the store.

``list``, ``search``, ``add``, ``show`` and ``forget ID`` go through the
:class:`~muxi_cli.runtime.base.Runtime`, so they work locally and against a remote
``muxi serve``. ``forget --all`` and the store administration commands of
:mod:`muxi_cli.cli.memory_store` (``export``, ``import``, ``prune``, ``stats``,
``reindex``, ``optimize``, ``extraction``) work on this machine's store only,
through :mod:`muxi_cli.runtime.admin`, and refuse a remote profile.

``--user`` defaults to the local user id (``MUXI_USER_ID`` or the OS user name),
or through a profile to the user the server's key acts as (another ``--user``
needs an admin key); ``--user '*'`` is the shared domain knowledge of every user.

Exit codes: 0 ok, 1 runtime error or a declined confirmation, 2 usage error or
unknown memory id.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from muxi_cli.cli.context import acting_user, run_admin, run_with_runtime
from muxi_cli.cli.output import (
    Column,
    err_console,
    escape,
    fail,
    info,
    out_console,
    print_json,
    print_table,
)
from muxi_cli.errors import UsageError
from muxi_cli.termtext import strip_controls

if TYPE_CHECKING:
    from muxi_cli.protocol.records import MemoryItem
    from muxi_cli.runtime.base import Runtime

app = typer.Typer(
    help="Long-term memory: list, search, add, forget; stats, map; export, import, prune, reindex.",
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


def short(text: str, width: int = 70) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


#: How a table marks a memory a newer one replaced (``show ID`` lists the versions).
REPLACED = "(since replaced)"


def _owner(user_id: str) -> str:
    """A memory's owner for messages: a user id, or the shared knowledge."""
    return "every user (shared knowledge)" if user_id == "*" else repr(user_id)


def _table(items: list[MemoryItem], *, score: bool = False, user: str | None = None) -> None:
    """Memories as a table; with ``user``, a FROM column tells theirs from shared knowledge."""
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
        text = escape(short(item.text, 200))
        if item.superseded_by:
            # Search finds replaced versions too (right below their successor): say so,
            # as recall does, or an old city reads like the current one.
            text = f"[dim]{REPLACED}[/dim] {text}"
        rows.append([*cells, text, item.created_at[:10]])
    print_table(columns, rows)


def confirm(question: str, yes: bool) -> None:

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
    if any(i.superseded_by for i in items):
        info(f"{REPLACED}: a newer memory updates it; `muxi memory show ID` shows the versions")


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
    replaces: Annotated[
        list[str] | None,
        typer.Option(
            "--replaces",
            metavar="ID",
            help="A memory this one updates (it stays in `show`'s history); repeatable.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remember something for a user (duplicates are merged, not stored twice)."""

    async def work(rt: Runtime) -> MemoryItem:
        uid = await acting_user(rt, "*" if shared else user)
        return await rt.memory_add(text, user_id=uid, kind=kind, replaces=replaces or None)

    item = run_with_runtime(ctx, work)
    if as_json:
        print_json(item.to_dict())
        return
    sys.stdout.write(item.id + "\n")
    # The owner the store reports, not the one asked for: the server decides for its keys.
    info(f"remembered for {_owner(item.user_id)}: {short(item.text)}")


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
    """Show one memory: whose fact, its dates, its questions, and its versions."""

    _uid, item = run_with_runtime(ctx, lambda rt: _find(rt, memory_id, user))
    if as_json:
        print_json(item.to_dict())
        return
    from rich.markup import escape  # deferred: rich is slow to import

    console = out_console()
    console.print(f"[bold]{escape(item.id)}[/bold]  {escape(item.kind)}")
    console.print(escape(strip_controls(item.text)))  # memories are model-written
    details = [
        ("user", item.user_id),
        ("about", item.subject or "-"),
        ("created", item.created_at),
        ("importance", f"{item.importance:.2f}"),
        ("agent", item.agent or "-"),
        ("source", item.source or "-"),
    ]
    if item.dates:
        details.append(("dates", " ".join(item.dates)))
    if item.valid_from:
        details.append(("valid from", item.valid_from))
    if item.valid_until:
        details.append(("valid until", item.valid_until))
    if item.superseded_by:
        details.append(("superseded by", item.superseded_by))
    for key, value in details:
        console.print(f"[dim]{key}:[/dim] {escape(strip_controls(str(value)))}")
    if item.questions:
        console.print("[dim]answers:[/dim]")
        for question in item.questions:
            console.print(f"  {escape(strip_controls(question))}")
    for title, links in (("replaced by", item.replaced_by), ("replaces", item.replaced)):
        if links:
            console.print(f"[dim]{title} (newest first):[/dim]")
            for link in links:
                text = escape(strip_controls(short(link.get("text", ""))))
                console.print(
                    f"  {escape(link.get('id', ''))}  {link.get('created_at', '')[:10]}  {text}"
                )


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

        total = run_admin(ctx, "memory forget --all", lambda a: a.count_user(uid))
        err_console().print(f"This erases all {total} memories of user {uid!r}.")
        confirm(f"Erase everything muxi remembers about {uid!r}?", yes)
        gone = run_admin(ctx, "memory forget --all", lambda s: s.forget_user(uid))
        info(f"erased {gone} memories of {uid!r}")
        return
    assert memory_id is not None
    owner, item = run_with_runtime(ctx, lambda rt: _find(rt, memory_id, user))
    from rich.markup import escape  # deferred: rich is slow to import

    err_console().print(
        f"Forgetting [bold]{escape(item.id)}[/bold]: {escape(short(item.text))}", highlight=False
    )
    confirm("Forget this memory (and its older versions)?", yes)
    run_with_runtime(ctx, lambda rt: rt.memory_forget(item.id, user_id=owner))
    info(f"forgot {item.id} of {_owner(item.user_id)}")
