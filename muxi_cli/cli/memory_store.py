"""``muxi memory export|import|prune|stats|map|reindex|optimize|extraction``: the store itself.

These work on this machine's memory store only, through
:mod:`muxi_cli.runtime.admin` (:func:`~muxi_cli.cli.context.run_admin`), and refuse
a remote profile (exit 2); but ``stats --user`` and ``map`` are one user's
figures, which go through the Runtime
(:mod:`muxi_cli.cli.memory_viz`). :func:`register` adds them to the ``muxi memory``
group after the commands of :mod:`muxi_cli.cli.memory`.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from muxi_cli.cli.context import run_admin
from muxi_cli.cli.memory import JsonOpt, UserOpt, YesOpt, confirm, short
from muxi_cli.cli.memory_viz import map_command
from muxi_cli.cli.output import (
    err_console,
    fail,
    info,
    out_console,
    print_json,
    progress_bar,
    write_output_file,
)
from muxi_cli.errors import MuxiError, UsageError

if TYPE_CHECKING:
    from rich.progress import Progress

    from muxi_cli.runtime.admin import MemoryAdmin


def _progress(label: str) -> tuple[Progress, Callable[[int, int], None]]:
    """A progress bar on stderr; returns ``(context manager, callback(done, total))``."""

    bar = progress_bar()
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


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

    async def work(admin: MemoryAdmin) -> int:
        count, text = await admin.export(sys.stdout if output is None else None, user)
        if output is not None:  # inside run_admin: an unwritable path is a usage error
            write_output_file(output, text)
        return count

    count = run_admin(ctx, "memory export", work)
    info(f"exported {count} memories" + (f" to {output}" if output else ""))


def import_(
    ctx: typer.Context,
    file: Annotated[
        str, typer.Argument(help="A JSONL file from `muxi memory export` ('-' = stdin).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Import memories exported by `muxi memory export` (same ids: importing twice updates)."""

    try:
        # deferred: the store modules (~100 ms) that `muxi memory search` never needs
        from muxi_cli.runtime.admin import read_export

        items = read_export(file, sys.stdin)
    except MuxiError as exc:
        raise fail(exc) from None

    async def work(admin: MemoryAdmin) -> dict[str, int]:
        bar, update = _progress("re-embedding")
        with bar:
            return await admin.import_records(items, progress=update)

    result = run_admin(ctx, "memory import", work)
    if as_json:
        print_json(result)
        return
    info(f"imported {result['imported']} memories ({result['reembedded']} re-embedded)")


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

    def plan(admin: MemoryAdmin, apply: bool) -> Awaitable[list[dict[str, Any]]]:
        return admin.prune(user_id=user, ttl_days=ttl_days, max_per_user=max_per_user, apply=apply)

    rows = run_admin(ctx, "memory prune", lambda a: plan(a, False))
    if not rows:
        if as_json:
            print_json({"pruned": [], "dry_run": dry_run})
        else:
            info("Nothing to prune.")
        return
    if not as_json or not dry_run:
        for row in rows[:50]:
            err_console().print(
                f"{row['id']}  {row['user_id']}  {row['reason']}  {short(row['text'], 60)}",
                highlight=False,
                markup=False,
            )
        if len(rows) > 50:
            err_console().print(f"... and {len(rows) - 50} more")
    if not dry_run:
        confirm(f"Delete these {len(rows)} memories?", yes)
        run_admin(ctx, "memory prune", lambda a: plan(a, True))
    if as_json:
        print_json({"pruned": rows, "dry_run": dry_run})
    else:
        info(f"{'would prune' if dry_run else 'pruned'} {len(rows)} memories")


def stats(ctx: typer.Context, user: UserOpt = None, as_json: JsonOpt = False) -> None:
    """The memory store's counts, model and size; with --user (also through a profile)
    that user's memories by kind, age and decay score, replaced facts and recalls."""

    if user is not None:
        from muxi_cli.cli.memory_viz import show_stats  # deferred: the per-user figures

        show_stats(ctx, user, as_json)
        return
    result = run_admin(ctx, "memory stats", lambda a: a.stats())
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
    from rich.markup import escape  # deferred: rich is slow to import

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


def reindex(ctx: typer.Context, yes: YesOpt = False) -> None:
    """Re-embed every memory and knowledge chunk with the configured embedding model."""

    stored, configured, total = run_admin(ctx, "memory reindex", lambda a: a.reindex_plan())
    err_console().print(
        f"Re-embedding {total} rows: {stored} -> {configured}. Stop muxi servers using this "
        f"store first: writes made during a reindex are lost.",
        highlight=False,
        markup=False,
    )
    confirm("Re-embed now?", yes)

    async def work(admin: MemoryAdmin) -> dict[str, int]:
        bar, update = _progress("re-embedding")
        with bar:
            return await admin.reindex(progress=update)

    counts = run_admin(ctx, "memory reindex", work)
    info(f"re-embedded {counts.get('memories', 0)} memories and {counts.get('chunks', 0)} chunks")


def optimize(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Compact the store's files, refresh its indexes and drop old versions."""

    result = run_admin(ctx, "memory optimize", lambda a: a.optimize())
    if as_json:
        print_json(result)
        return
    tables: dict[str, dict[str, int]] = result["tables"]
    removed = sum(int(t["old_versions_removed"]) for t in tables.values())
    info(f"optimized: {removed} old versions removed")


def extraction(
    ctx: typer.Context,
    state_: Annotated[str | None, typer.Argument(metavar="[on|off]", help="Switch it.")] = None,
    user: UserOpt = None,
) -> None:
    """Show or switch long-term extraction for one user (agents can switch it off too)."""

    if state_ not in (None, "on", "off"):
        raise fail(UsageError(f"expected on or off, not {state_!r}"))
    from muxi_cli.runtime.users import local_user_id  # deferred: as read_export above

    uid = user or local_user_id()  # no server decides here: this machine's user

    switch = None if state_ is None else state_ == "on"
    enabled = run_admin(ctx, "memory extraction", lambda a: a.set_extraction(uid, switch))
    sys.stdout.write(("on" if enabled else "off") + "\n")
    info(f"long-term extraction is {'on' if enabled else 'off'} for {uid!r}")


def register(app: typer.Typer) -> None:
    """Add the store commands to the ``muxi memory`` group, in ``--help`` order."""
    for name, command in (
        ("export", export),
        ("import", import_),
        ("prune", prune),
        ("stats", stats),
        ("map", map_command),
        ("reindex", reindex),
        ("optimize", optimize),
        ("extraction", extraction),
    ):
        app.command(name)(command)
