"""Shared output helpers: results to stdout, diagnostics to stderr.

Errors are printed as a short panel on stderr and mapped to the documented
exit codes (see ``muxi_cli.errors.ExitCode``).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import typer
    from rich.console import Console
    from rich.progress import Progress

    from muxi_cli.errors import MuxiError

_err: Console | None = None
_out: Console | None = None


#: Width for output that does not go to a terminal (a pipe, a file, CI logs):
#: wide enough that tables and error panels are not wrapped mid-word at 80.
PIPE_WIDTH = 120


def _width(stream: object) -> int | None:
    import os

    isatty = getattr(stream, "isatty", None)
    if os.environ.get("COLUMNS") or (callable(isatty) and isatty()):
        return None  # rich measures the terminal (or honours COLUMNS)
    return PIPE_WIDTH


#: What each cached console was made for: (the stream's id, ``$COLUMNS``).
_made_for: dict[bool, tuple[int, str | None]] = {}


def _fresh(cached: Console | None, stream: object, *, stderr: bool) -> Console:
    """``cached`` while it still fits ``stream``; otherwise a new console for it.

    The width is fixed when a console is made (terminal size, ``COLUMNS``, or
    :data:`PIPE_WIDTH` for a pipe), so a console made for one stream must not
    serve another (tests and embedding callers swap ``sys.stdout``).
    """
    import os

    key = (id(stream), os.environ.get("COLUMNS"))
    if cached is not None and _made_for.get(stderr) == key:
        return cached
    from rich.console import Console

    _made_for[stderr] = key
    return Console(stderr=stderr, highlight=False, width=_width(stream))


def err_console() -> Console:
    global _err
    _err = _fresh(_err, sys.stderr, stderr=True)
    return _err


def out_console() -> Console:
    global _out
    _out = _fresh(_out, sys.stdout, stderr=False)
    return _out


def print_error(error: MuxiError) -> None:
    """A red panel in a terminal; plain, unwrapped lines in a pipe or a log."""
    from rich.markup import escape
    from rich.panel import Panel

    from muxi_cli.termtext import strip_controls

    # Messages may echo a server's or a model's text: no escape sequences.
    code = strip_controls(error.code)
    message = strip_controls(error.message)
    hint = strip_controls(error.hint) if error.hint else None
    console = err_console()
    if not console.is_terminal:
        console.print(f"error: {escape(code)}: {escape(message)}", soft_wrap=True)
        if hint:
            console.print(f"hint: {escape(hint)}", soft_wrap=True)
        return
    body = f"[bold]{escape(message)}[/bold]"
    if hint:
        body += f"\n[dim]hint:[/dim] {escape(hint)}"
    err_console().print(
        Panel(
            body,
            title=f"[red]error: {escape(code)}[/red]",
            title_align="left",
            border_style="red",
            expand=False,
        )
    )


def warn(message: str) -> None:
    from rich.markup import escape

    from muxi_cli.termtext import strip_controls

    err_console().print(f"[yellow]warning:[/yellow] {escape(strip_controls(message))}")


def info(message: str) -> None:
    from rich.markup import escape

    from muxi_cli.termtext import strip_controls

    err_console().print(f"[dim]{escape(strip_controls(message))}[/dim]")


def progress_bar(*, file_column: bool = False) -> Progress:
    """A progress bar on stderr for long work; it draws nothing when stderr is not a terminal.

    (A transient bar on a pipe or log still leaves a blank line behind.)
    With ``file_column``, tasks carry a ``file`` field shown after the count.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as _Progress

    console = err_console()
    columns: list[ProgressColumn] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if file_column:
        columns.append(TextColumn("[dim]{task.fields[file]}[/dim]"))
    columns.append(TimeElapsedColumn())
    return _Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout (C1 controls escaped)."""
    from muxi_cli.termtext import json_controls_escaped

    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(json_controls_escaped(text) + "\n")
    sys.stdout.flush()


def write_output_file(path: Path, text: str, *, private: bool = True) -> None:
    """Write a command's ``-o FILE`` (0600 when ``private``, missing folders created).

    A path that cannot be written (no permission, a file where a folder should
    be, a read-only disk) is a :class:`~muxi_cli.errors.UsageError` naming the
    path, never a traceback.
    """
    from muxi_cli.errors import UsageError

    try:
        if private:
            from muxi_cli.paths import write_private

            write_private(path, text)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}",
            "Choose a path you can write to with -o.",
        ) from None


def fail(error: MuxiError) -> typer.Exit:
    """Print ``error`` and return the ``typer.Exit`` to raise."""
    import typer

    print_error(error)
    return typer.Exit(error.exit_code)


def run_app(app: typer.Typer) -> None:
    """Run the Typer app, turning MuxiError and Ctrl-C into documented exit codes."""
    from muxi_cli.errors import ExitCode, MuxiError

    try:
        app(standalone_mode=True, prog_name="muxi")
    except MuxiError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console().print("[dim]interrupted[/dim]")
        sys.exit(ExitCode.INTERRUPTED)
