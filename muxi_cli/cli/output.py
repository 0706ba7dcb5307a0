"""Shared output helpers: results to stdout, diagnostics to stderr.

Errors are printed as a short panel on stderr and mapped to the documented
exit codes (see ``muxi_cli.errors.ExitCode``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.errors import ExitCode, MuxiError, UsageError
from muxi_cli.paths import write_private
from muxi_cli.termtext import json_controls_escaped, strip_controls

if TYPE_CHECKING:
    from pathlib import Path

    import typer
    from rich.console import Console
    from rich.progress import Progress
    from rich.text import Text

    from muxi_cli.errors import MuxiError

_err: Console | None = None
_out: Console | None = None


#: Width for output that does not go to a terminal (a pipe, a file, CI logs):
#: wide enough that tables and error panels are not wrapped mid-word at 80.
PIPE_WIDTH = 120


def _width(stream: object) -> int | None:

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

    key = (id(stream), os.environ.get("COLUMNS"))
    if cached is not None and _made_for.get(stderr) == key:
        return cached
    from rich.console import Console  # deferred: rich is slow to import

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
    from rich.markup import escape  # deferred: rich is slow to import
    from rich.panel import Panel  # deferred: rich is slow to import

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


def escape(text: str) -> str:
    """``rich.markup.escape``, without importing rich for text it leaves as it is."""
    if "[" not in text and not text.endswith("\\"):
        return text
    from rich.markup import escape as rich_escape  # deferred: rich is slow to import

    return rich_escape(text)


def warn(message: str) -> None:
    from rich.markup import escape  # deferred: rich is slow to import

    err_console().print(f"[yellow]warning:[/yellow] {escape(strip_controls(message))}")


def info(message: str) -> None:
    from muxi_cli.cli import plainout

    if message == message.strip() and plainout.print_notice(message, PIPE_WIDTH):
        return  # what rich would print, without importing it
    from rich.markup import escape  # deferred: rich is slow to import

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
    )  # deferred: rich is slow to import
    from rich.progress import Progress as _Progress  # deferred: rich is slow to import

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


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a :func:`print_table` table."""

    header: str
    #: A column that gives way (descriptions, titles, free text): it wraps onto
    #: more lines when the table does not fit. Every other column is essential.
    wrap: bool = False
    justify: Literal["left", "right"] = "left"
    style: str | None = None


def print_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str | Text]],
    *,
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """Print a table by the one rule every CLI table follows.

    Essential columns (ids, names, kinds, policies, counts, dates) always show
    whole: never cut, never dropped, never wrapped. The ``wrap`` columns share
    the width that is left and wrap their text onto more lines, down to
    :data:`MIN_WRAP` characters each. The width is the terminal's (or
    ``COLUMNS``); piped output is :data:`PIPE_WIDTH` wide. ``str`` cells are
    rich markup (escape what users wrote); :class:`rich.text.Text` cells are
    used as they are.
    """
    rows = [list(row) for row in rows]
    if console is None and not title and _print_plain(columns, rows):
        return
    from rich.markup import escape  # deferred: rich is slow to import
    from rich.table import Table  # deferred: rich is slow to import
    from rich.text import Text  # deferred: rich is slow to import

    out = console or out_console()
    # Cells hold model, tool and server text (titles, memories, descriptions):
    # escape sequences never reach the terminal.
    cells = [
        [
            (c if strip_controls(c.plain) == c.plain else Text(strip_controls(c.plain), c.style))
            if isinstance(c, Text)
            else Text.from_markup(strip_controls(str(c)))
            for c in row
        ]
        for row in rows
    ]
    natural = [
        max([len(col.header), *(row[i].cell_len for row in cells)]) for i, col in enumerate(columns)
    ]
    widths = _column_widths(columns, [[c.plain for c in row] for row in cells], natural, out.width)
    if widths is None:
        _print_stacked(columns, cells, natural, out, title)
        return
    if title:  # above the table, not a rich title: that one wraps at the table's width
        out.print(f"[bold]{escape(title)}[/bold]", overflow="fold")
    table = Table(box=None, header_style="bold", pad_edge=False)
    for i, col in enumerate(columns):
        table.add_column(
            col.header,
            justify=col.justify,
            style=col.style,
            width=widths[i],
            no_wrap=not col.wrap,
            overflow="fold",
        )
    for row in cells:
        table.add_row(*row)
    out.print(table)


#: The gap between two columns (rich's default padding: one space each side).
_GAP = 2


def _print_plain(columns: Sequence[Column], rows: Sequence[Sequence[str | Text]]) -> bool:
    """The table printed without rich when rich would print the same (see plainout)."""
    from muxi_cli.cli import plainout

    width = plainout.plain_width(sys.stdout, PIPE_WIDTH)
    texts = [c for row in rows for c in row]
    if width is None or not all(isinstance(c, str) and plainout.is_plain(c) for c in texts):
        return False
    plain = [[str(c) for c in row] for row in rows]
    natural = [
        max([len(col.header), *(len(row[i]) for row in plain)]) for i, col in enumerate(columns)
    ]
    widths = _column_widths(columns, plain, natural, width)
    if widths is None:
        return False  # stacked: rich's
    plainout.print_table(columns, plain, widths, sys.stdout)
    return True


def _column_widths(
    columns: Sequence[Column], cells: list[list[str]], natural: list[int], total: int
) -> list[int] | None:
    """Essential columns at their natural width; the wrapping ones share the rest.

    Each wrapping column first gets room for its longest word (so words are not
    broken while that fits), then what is left is shared evenly, a column never
    getting more than its natural width. None when a wrapping column would get
    under :data:`MIN_WRAP` characters: the caller stacks the free text instead.
    """
    widths = list(natural)
    wrapping = [i for i, col in enumerate(columns) if col.wrap]
    fixed = sum(w for i, w in enumerate(natural) if i not in wrapping)
    room = total - fixed - _GAP * (len(columns) - 1)
    lowest = {i: min(natural[i], MIN_WRAP) for i in wrapping}
    if room < sum(lowest.values()):
        return None
    words = {i: max([len(w) for row in cells for w in row[i].split()] or [0]) for i in wrapping}
    floors = {i: min(natural[i], max(MIN_WRAP, words[i])) for i in wrapping}
    if room < sum(floors.values()):
        floors = lowest  # long words will be folded
    for i in wrapping:
        widths[i] = floors[i]
    extra = room - sum(floors.values())
    left = sorted(wrapping, key=lambda i: natural[i] - floors[i])
    while left:
        i = left.pop(0)
        give = min(natural[i] - widths[i], extra // (len(left) + 1))
        widths[i] += give
        extra -= give
    return widths


def _print_stacked(
    columns: Sequence[Column],
    cells: list[list[Text]],
    natural: list[int],
    out: Console,
    title: str | None,
) -> None:
    """Too narrow for side by side: essential columns on the row's line, each
    wrapping column's text on its own indented lines below it."""
    from rich.markup import escape  # deferred: rich is slow to import
    from rich.padding import Padding  # deferred: rich is slow to import
    from rich.text import Text  # deferred: rich is slow to import

    def line(parts: list[Text]) -> Text:
        joined = Text()
        for n, part in enumerate(parts):
            if n:
                joined.append(" " * _GAP)
            joined.append_text(part)
        joined.rstrip()
        return joined

    def fit(cell: Text, i: int) -> Text:
        pad = " " * (natural[i] - cell.cell_len)
        col = columns[i]
        text = Text(pad) + cell if col.justify == "right" else cell + Text(pad)
        if col.style:
            text.stylize(col.style)
        return text

    essential = [i for i, col in enumerate(columns) if not col.wrap]
    wrapping = [i for i, col in enumerate(columns) if col.wrap]
    if title:
        out.print(f"[bold]{escape(title)}[/bold]", overflow="fold")
    head = line([Text(columns[i].header.ljust(natural[i]), style="bold") for i in essential])
    out.print(head, overflow="fold")
    for row in cells:
        out.print(line([fit(row[i], i) for i in essential]), overflow="fold")
        for i in wrapping:
            if row[i].plain.strip():
                text = row[i].copy()
                if len(wrapping) > 1:
                    text = Text(f"{columns[i].header.lower()}: ", style="dim") + text
                out.print(Padding(text, (0, 0, 0, 4), expand=False), overflow="fold")


#: The narrowest a wrapping column gets before the table is allowed to overflow.
MIN_WRAP = 16


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout (C1 controls escaped)."""

    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(json_controls_escaped(text) + "\n")
    sys.stdout.flush()


def write_output_file(path: Path, text: str, *, private: bool = True) -> None:
    """Write a command's ``-o FILE`` (0600 when ``private``, missing folders created).

    A path that cannot be written (no permission, a file where a folder should
    be, a read-only disk) is a :class:`~muxi_cli.errors.UsageError` naming the
    path, never a traceback.
    """

    try:
        if private:
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
    import typer  # deferred: Typer is slow to import

    print_error(error)
    return typer.Exit(error.exit_code)


def command_words(argv: list[str] | None = None) -> str:
    """``muxi serve`` or ``muxi memory list``: the command a user typed, without
    its options and values (for messages about the command as a whole)."""
    # deferred: the registry imports this module; by the time an error is
    # reported it is loaded. A command that is not a group takes arguments next.
    from muxi_cli.cli.app import COMMANDS

    single = {entry.name for entry in COMMANDS if entry.kind == "command"}
    words = ["muxi"]
    args = sys.argv[1:] if argv is None else argv
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-P", "--profile", "--config"):
            skip = True
            continue
        if arg.startswith("-"):
            continue
        words.append(arg)
        if len(words) == 3 or arg in single:
            break
    return " ".join(words) if len(words) > 1 else "the chat app"


def run_app(app: typer.Typer) -> None:
    """Run the Typer app, turning MuxiError and Ctrl-C into documented exit codes."""

    try:
        app(standalone_mode=True, prog_name="muxi")
    except MuxiError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        # A package of an extra that is not installed (pip install muxi-cli
        # without [server], say): name the extra instead of a traceback.
        from muxi_cli.parts import missing_part_error  # deferred: only on this error

        error = missing_part_error(exc, command_words())
        if error is None:
            raise
        print_error(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err_console().print("[dim]interrupted[/dim]")
        sys.exit(ExitCode.INTERRUPTED)
