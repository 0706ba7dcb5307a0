"""``muxi sessions``: list, show, export, delete and rename conversations.

Every command goes through a :class:`~muxi_cli.runtime.base.Runtime`, so it
works the same against this machine or a remote ``muxi serve``. Session ids
may be shortened to any unique prefix (the ``s_`` may be left out).

Exit codes: 0 ok, 1 runtime error or a declined confirmation, 2 usage error
or unknown session id.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from muxi_cli.cli.context import acting_user, run_with_runtime
from muxi_cli.cli.output import (
    Column,
    fail,
    info,
    out_console,
    print_json,
    print_table,
    warn,
    write_output_file,
)
from muxi_cli.errors import MuxiError, NotFoundError, UsageError
from muxi_cli.termtext import json_controls_escaped, strip_controls

if TYPE_CHECKING:
    from rich.console import RenderableType

    from muxi_cli.protocol.records import SessionInfo, SessionMessage
    from muxi_cli.runtime.base import Runtime

T = TypeVar("T")

app = typer.Typer(
    help="List, show, export, rename and delete chat sessions.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

IdArg = Annotated[str, typer.Argument(help="Session id, or any unique start of it.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _ago(ts: str, now: datetime | None = None) -> str:
    """A short human time: ``just now``, ``5m ago``, ``3h ago``, ``2d ago`` or the date."""
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)}d ago"
    return when.astimezone().strftime("%Y-%m-%d")


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("list")
def list_sessions(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user's sessions.")
    ] = None,
    search: Annotated[
        str | None,
        typer.Option("--search", "-s", help="Only sessions whose title or messages contain TEXT."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N sessions.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List sessions, most recently active first."""

    async def work(rt: Runtime) -> list[SessionInfo]:
        # Through a profile a user key lists its own sessions only: naming another
        # user is an error rather than that user's name over someone else's list.
        uid = None if user is None else await acting_user(rt, user)
        return await rt.sessions(user_id=uid, query=search, limit=limit)

    found = run_with_runtime(ctx, work)
    if as_json:
        print_json([s.to_dict() for s in found])
        return
    if not found:
        info("No matching sessions." if search else "No sessions yet. Start one with `muxi chat`.")
        return
    from rich.markup import escape  # deferred: rich is slow to import

    columns = [
        Column("ID", style="cyan"),
        Column("TITLE", wrap=True),
        Column("AGENT"),
        Column("MSGS", justify="right"),
        Column("UPDATED"),
    ]
    rows = [
        [
            escape(s.id),
            escape(_short(s.title or "(untitled)", 200)),
            escape(s.agent or "-"),
            str(s.message_count),
            _ago(s.updated_at),
        ]
        for s in found
    ]
    print_table(columns, rows)


@app.command("show")
def show(
    ctx: typer.Context,
    session_id: IdArg,
    as_json: JsonOpt = False,
    timeline: Annotated[
        bool,
        typer.Option(
            "--timeline",
            help="Each turn as a row instead: routing, agent, model, tools, tokens, cost.",
        ),
    ] = False,
) -> None:
    """Print a conversation (tool calls summarised), or with --timeline its turns."""
    if timeline:
        from muxi_cli.cli.timeline_view import show_timeline  # deferred: only --timeline

        show_timeline(ctx, session_id, as_json)
        return

    async def load(rt: Runtime) -> tuple[SessionInfo, list[SessionMessage]]:
        found = await rt.session(session_id)
        return found, await rt.messages(found.id)

    found, messages = run_with_runtime(ctx, load)
    if as_json:
        print_json({"session": found.to_dict(), "messages": [m.to_dict() for m in messages]})
        return
    console = out_console()
    for item in render_conversation(found, messages, markdown=console.is_terminal):
        console.print(item)


def _call_label(call: dict[str, Any]) -> str:
    server = call.get("server")
    tool = str(call.get("tool") or call.get("name") or "tool")
    return f"{server}/{tool}" if server and "/" not in tool else tool


def _args_preview(args: Any) -> str:

    if isinstance(args, dict):
        parts = [f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in args.items()]
        return _short(", ".join(parts), 80)
    return _short(json.dumps(args, ensure_ascii=False, default=str), 80) if args else ""


def render_conversation(
    found: SessionInfo, messages: list[SessionMessage], *, markdown: bool = False
) -> list[RenderableType]:
    """Rich renderables for a conversation: a header, then each message.

    Stored text came from models and tools: escape sequences are removed.
    """

    from rich.markdown import Markdown  # deferred: rich is slow to import
    from rich.text import Text  # deferred: rich is slow to import

    found = replace(found, title=strip_controls(found.title or ""))
    # Media parts show as placeholders ("[image: dot.png, image/png, 70 bytes]").
    messages = [
        replace(m, content=strip_controls(m.display_text() if m.role != "tool" else m.content))
        for m in messages
    ]

    out: list[RenderableType] = []
    head = Text(found.title or "(untitled)", style="bold")
    head.append(f"  {found.id}", style="cyan")
    out.append(head)
    facts = f"user {found.user_id}"
    if found.agent:
        facts += f" · agent {found.agent}"
    facts += f" · {found.message_count} messages · updated {_ago(found.updated_at)}"
    out.append(Text(facts, style="dim"))
    calls: dict[str, str] = {}
    for msg in messages:
        status = "" if msg.status == "complete" else f" ({msg.status})"
        status_style = "red" if msg.status == "failed" else "yellow"
        if msg.role == "tool":
            if msg.meta.get("tool"):
                tool_name = _call_label(msg.meta)
            else:
                tool_name = calls.get(msg.tool_call_id or "", "tool")
            ok = msg.meta.get("ok")
            line = Text("  ← ", style="dim")
            line.append(tool_name, style="magenta")
            if msg.meta.get("cancelled"):
                line.append(" cancelled", style="yellow")
            elif ok is not None:
                line.append(" ok" if ok else " error", style="green" if ok else "red")
            if msg.meta.get("duration_ms") is not None:
                line.append(f" {msg.meta['duration_ms']} ms", style="dim")
            line.append(": " + _short(msg.content, 100), style="dim")
            out.append(line)
            continue
        out.append(Text(""))
        if msg.role == "system":
            out.append(Text(f"note: {msg.content}", style="dim italic"))
            continue
        who = "you" if msg.role == "user" else (msg.agent or msg.role)
        heading = Text(who, style="bold cyan" if msg.role == "user" else "bold green")
        if status:
            heading.append(status, style=status_style)
        out.append(heading)
        if msg.content:
            use_md = markdown and msg.role == "assistant"
            out.append(Markdown(msg.content) if use_md else Text(msg.content))
        for call in msg.tool_calls:
            name = _call_label(call)
            if call.get("id"):
                calls[str(call["id"])] = name
            line = Text("  → ", style="dim")
            line.append(name, style="magenta")
            preview = strip_controls(_args_preview(call.get("arguments", call.get("input"))))
            line.append(f"({preview})", style="dim")
            out.append(line)
    return out


@app.command("export")
def export(
    ctx: typer.Context,
    session_id: IdArg,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="md (readable) or json (complete, re-readable).")
    ] = "md",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to FILE (mode 0600) instead of stdout."),
    ] = None,
) -> None:
    """Export a conversation as Markdown or JSON (secrets are scrubbed)."""

    if fmt not in ("md", "json"):
        raise fail(
            UsageError(f"Unknown export format {fmt!r}.", hint="Use --format md or --format json.")
        )

    async def load(rt: Runtime) -> tuple[str, list[tuple[str, bytes]]]:
        found = await rt.session(session_id)
        text = await rt.export_session(found.id, "json" if fmt == "json" else "md")
        linked = await _linked_media(rt, found.id, text) if output and fmt == "md" else []
        return text, linked

    text, linked = run_with_runtime(ctx, load)
    if output is None:
        if fmt == "json":
            text = json_controls_escaped(text)
        elif sys.stdout.isatty():  # a file or a pipe gets the text as stored
            text = strip_controls(text)
        sys.stdout.write(text)
        sys.stdout.flush()
        return

    try:
        write_output_file(output, text)
        for rel, data in linked:
            _write_media(output.parent / rel, data)
    except MuxiError as exc:
        raise fail(exc) from None
    info(f"wrote {output}" + (f" and {len(linked)} file(s) it links to" if linked else ""))


#: A Markdown export's link to a file (stores/session_export.py, media_links).
_MEDIA_LINK = re.compile(r"\]\(([A-Za-z0-9_-]{1,64}-media/([0-9a-f]{12})[A-Za-z0-9._-]*)\)")


async def _linked_media(rt: Runtime, session_id: str, text: str) -> list[tuple[str, bytes]]:
    """The files a Markdown export links to, as (relative path, bytes)."""
    wanted = {m.group(2): m.group(1) for m in _MEDIA_LINK.finditer(text)}
    if not wanted:
        return []
    found: list[tuple[str, bytes]] = []
    for ref in await rt.session_media(session_id):
        rel = wanted.get(ref.id[:12])
        if rel is None:
            continue
        try:
            _, data = await rt.get_media(ref.id)
        except NotFoundError:
            warn(f"{ref.name or ref.id[:12]} is no longer stored; its link stays empty")
            continue
        found.append((rel, data))
    return found


def _write_media(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}", "Choose a path you can write to with -o."
        ) from None


@app.command("delete")
def delete(
    ctx: typer.Context,
    session_id: IdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a session and all its messages."""

    async def work(rt: Runtime) -> SessionInfo | None:
        found = await rt.session(session_id)
        if not yes:
            if not _stdin_is_tty():
                raise UsageError(
                    f"Not deleting {found.id} without confirmation.",
                    hint="Run it in a terminal to be asked, or pass --yes.",
                )
            question = (
                f"Delete session {found.id} ({found.title or 'untitled'}, "
                f"{found.message_count} messages)?"
            )
            if not typer.confirm(question, default=False, err=True):
                return None
        await rt.delete_session(found.id)
        return found

    deleted = run_with_runtime(ctx, work)
    if deleted is None:
        info("Nothing deleted.")
        raise typer.Exit(1)
    info(f"deleted {deleted.id}")


@app.command("rename")
def rename(
    ctx: typer.Context,
    session_id: IdArg,
    title: Annotated[str, typer.Argument(help="The new title.")],
) -> None:
    """Give a session a new title."""

    if not title.strip():
        raise fail(
            UsageError(
                "The title is empty.",
                hint='Give a title, e.g. muxi sessions rename ID "Trip plans".',
            )
        )

    async def work(rt: Runtime) -> SessionInfo:
        found = await rt.session(session_id)
        return await rt.rename_session(found.id, title.strip())

    renamed = run_with_runtime(ctx, work)
    typer.echo(f"{renamed.id}\t{renamed.title}")
