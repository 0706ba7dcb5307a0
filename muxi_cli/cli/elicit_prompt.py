"""`muxi chat` at a terminal: ask the user what an MCP server asks (elicitation).

The questions go to stderr and the answers come from stdin, line by line, so
the reply on stdout stays clean. A blank answer to a required field declines;
end of input (Ctrl-D) cancels. The fields are the inspector's
(:mod:`muxi_cli.mcpdev.forms`), so a form means the same in both places.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from muxi_cli.mcpdev.forms import Field, convert, tool_fields
from muxi_cli.protocol.events import ElicitationRequested
from muxi_cli.termtext import strip_controls

Answer = tuple[str, dict[str, Any] | None]
_YES = ("y", "yes", "true", "1")
_NO = ("n", "no", "false", "0")


class _EndOfInput(Exception):
    pass


def _stdin_line(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise _EndOfInput
    return line.rstrip("\n")


def ask(
    event: ElicitationRequested,
    read: Callable[[str], str] = _stdin_line,
    write: Callable[[str], object] = sys.stderr.write,
) -> Answer:
    """Ask for one elicitation; returns ``(action, content)``."""
    # Every text here is the MCP server's (message, URL, field labels and
    # choices): escape sequences in it must not reach the terminal (OSC 52
    # writes the clipboard, cursor moves can fake the URL shown).
    read = _clean_prompt(read)
    write = _clean_write(write)
    write(f"\n{event.server or 'An MCP server'} asks: {event.message}\n")
    try:
        if event.mode == "url":
            write(f"  It asks you to open: {event.url}\n")
            opened = _yes_no(read, "  Open it and go on? [y/N] ", default=False)
            return ("accept" if opened else "decline"), None
        values: dict[str, Any] = {}
        for spec in tool_fields(event.requested_schema):
            value = _field(spec, read, write)
            if value is None:
                if spec.required:
                    write("  (declined: a required answer was left blank)\n")
                    return "decline", None
                continue
            values[spec.name] = value
        if not _yes_no(read, "  Send these answers? [Y/n] ", default=True):
            return "decline", None
        return "accept", values
    except _EndOfInput:
        write("\n  (cancelled)\n")
        return "cancel", None


def _clean_prompt(read: Callable[[str], str]) -> Callable[[str], str]:
    return lambda prompt: read(strip_controls(prompt))


def _clean_write(write: Callable[[str], object]) -> Callable[[str], object]:
    return lambda text: write(strip_controls(text))


def _yes_no(read: Callable[[str], str], prompt: str, default: bool) -> bool:
    while True:
        text = read(prompt).strip().lower()
        if not text:
            return default
        if text in _YES or text in _NO:
            return text in _YES


def _field(spec: Field, read: Callable[[str], str], write: Callable[[str], object]) -> Any:
    """One answer, typed; None when left blank."""
    hint = f" - {spec.description}" if spec.description else ""
    choices = f" [{'/'.join(str(o) for o in spec.options)}]" if spec.kind == "enum" else ""
    while True:
        text = read(f"  {spec.label}{hint}{choices}: ").strip()
        if not text:
            if spec.has_default and spec.default is not None:
                return spec.default
            return None
        if spec.kind == "boolean":
            if text.lower() in _YES or text.lower() in _NO:
                return text.lower() in _YES
            write("  answer yes or no\n")
            continue
        if spec.kind == "enum":
            match = [o for o in spec.options if str(o) == text]
            if match:
                return match[0]
            write(f"  choose one of: {', '.join(str(o) for o in spec.options)}\n")
            continue
        try:
            return convert(spec, text)
        except ValueError as exc:
            write(f"  {exc}\n")
