"""What the input offers to complete at the cursor (no Textual here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from muxi_cli.protocol.mentions import partial_mention
from muxi_cli.tui import commands, files


@dataclass(frozen=True, slots=True)
class Candidate:
    """One completion: ``value`` replaces the input from ``start`` to the cursor (row 0 based)."""

    value: str
    label: str
    help: str = ""
    row: int = 0
    start: int = 0
    #: Enter on this candidate also sends the input (a command with no argument).
    submit: bool = False


@dataclass
class Sources:
    """Names the completer can offer; the app keeps these up to date."""

    agents: Sequence[str] = ()
    agent_help: dict[str, str] = field(default_factory=dict)
    themes: Sequence[str] = ()
    models: Sequence[str] = ()


def complete(text: str, row: int, col: int, sources: Sources) -> list[Candidate]:
    lines = text.split("\n")
    if row >= len(lines):
        return []
    before = lines[row][:col]
    if row == 0 and before.startswith("/") and not before.startswith("//"):
        head, space, rest = before[1:].partition(" ")
        if not space:
            return [
                Candidate(
                    value=f"/{c.name}" + (" " if c.arg else ""),
                    label=c.label,
                    help=c.help,
                    start=0,
                    submit=c.arg is None,
                )
                for c in commands.matching(head)
            ]
        command = commands.lookup(head.lower())
        if command is not None and command.arg == "path":
            return _paths(rest, len(before) - len(rest))
        if command is None or command.arg is None or " " in rest:
            return []
        return [
            Candidate(value=v, label=v, help=h, start=len(before) - len(rest), submit=True)
            for v, h in _arg_values(command.arg, sources)
            if v.lower().startswith(rest.lower())
        ]
    typed = partial_mention(before)
    if typed is not None:
        prefix = typed.lower()
        start = len(before) - len(prefix) - 1
        return [
            Candidate(
                value=f"@{name} ",
                label=f"@{name}",
                help=sources.agent_help.get(name, ""),
                row=row,
                start=start,
            )
            for name in sources.agents
            if name.lower().startswith(prefix)
        ]
    return []


def _paths(typed: str, start: int) -> list[Candidate]:
    """Files and folders for ``/attach``: Enter on a file attaches it, on a folder opens it."""
    out = []
    for value, is_dir in files.complete_path(typed):
        label = value.rstrip("/").rpartition("/")[2] + ("/" if is_dir else "")
        out.append(
            Candidate(
                value=value,
                label=label,
                help="folder" if is_dir else "",
                start=start,
                submit=not is_dir,
            )
        )
    return out


def _arg_values(kind: str, sources: Sources) -> list[tuple[str, str]]:
    if kind == "agent":
        return [(a, sources.agent_help.get(a, "")) for a in sources.agents]
    if kind == "format":
        return [("md", "Markdown file"), ("json", "JSON file")]
    if kind == "theme":
        return [(t, "") for t in sources.themes]
    if kind == "copy":
        return [("code", "the last code block of the last reply")]
    if kind == "model":
        return [("default", "the agent's own model"), *((m, "") for m in sources.models)]
    return []
