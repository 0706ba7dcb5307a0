"""Slash commands: the registry, parsing and completion (no Textual here).

The chat screen runs a command by calling ``cmd_<name>(args)``; the command
palette (:mod:`muxi_cli.tui.palette`) offers the same list.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

ArgKind = Literal["agent", "format", "theme", "copy", "model", "text", "path"]


@dataclass(frozen=True, slots=True)
class SlashCommand:
    name: str
    help: str
    usage: str = ""
    #: What the argument completes to, if it takes one.
    arg: ArgKind | None = None
    #: Title in the command palette.
    title: str = ""

    @property
    def label(self) -> str:
        return f"/{self.name}" + (f" {self.usage}" if self.usage else "")


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("help", "Show keys, commands and screens", title="Help"),
    SlashCommand(
        "agent", "Talk to an agent (no name: open the picker)", "[name]", "agent", "Pick agent"
    ),
    SlashCommand("agents", "List the agents of this formation", title="Agents"),
    SlashCommand("new", "Start a new session (Ctrl+N)", title="New session"),
    SlashCommand("sessions", "Open, rename, delete or search sessions (Ctrl+O)", title="Sessions"),
    SlashCommand("memory", "List, search, add and forget memories", title="Memory"),
    SlashCommand("tools", "Tools the agents can call, with their approval policy", title="Tools"),
    SlashCommand(
        "mcp",
        "MCP servers, why one failed; retry, attach, detach, inspect, resources, prompts",
        "[retry NAME|attach TARGET|detach NAME|inspect TARGET|resources|prompts|read|prompt]",
        title="MCP servers",
    ),
    SlashCommand(
        "model",
        "Show the model, or use another one for this session",
        "[provider/model|default]",
        "model",
        "Model",
    ),
    SlashCommand(
        "export",
        "Export this session to a Markdown or JSON file",
        "[md|json]",
        "format",
        "Export session",
    ),
    SlashCommand(
        "copy",
        "Copy the last reply (or its code block) to the clipboard",
        "[code [n]]",
        "copy",
        "Copy last reply",
    ),
    SlashCommand(
        "attach",
        "Attach a file to the next message (or paste / drop its path)",
        "PATH",
        "path",
        "Attach a file",
    ),
    SlashCommand(
        "attachments", "Files this session holds: type, size, message", title="Attachments"
    ),
    SlashCommand("speak", "Read replies aloud (toggle)", "[on|off]", title="Speak replies"),
    SlashCommand("clear", "Clear the screen (the session is kept)", title="Clear screen"),
    SlashCommand("cost", "Tokens and cost of this session", title="Cost"),
    SlashCommand(
        "timeline",
        "Each turn of this session: routing, agent, model, tools, tokens, cost",
        title="Session timeline",
    ),
    SlashCommand("dashboard", "Stats, charts and the runs in flight, live (F2)", title="Dashboard"),
    SlashCommand("theme", "Change the colour theme (saved)", "[name]", "theme", "Change theme"),
    SlashCommand("exit", "Quit muxi (Ctrl+Q)", title="Quit"),
)

BY_NAME: dict[str, SlashCommand] = {c.name: c for c in COMMANDS}
ALIASES: dict[str, str] = {"quit": "exit", "q": "exit", "h": "help", "?": "help"}


def parse(text: str) -> tuple[str, str] | None:
    """``"/agent coder"`` -> ``("agent", "coder")``; None when the text is not a command.

    A leading ``//`` escapes the slash: the text is sent as a message.
    """
    stripped = text.strip()
    if not stripped.startswith("/") or stripped.startswith("//"):
        return None
    head, _, rest = stripped[1:].partition(" ")
    if not head or "/" in head:  # "/usr/bin is a path" is a message, not a command
        return None
    name = head.lower()
    return ALIASES.get(name, name), rest.strip()


def lookup(name: str) -> SlashCommand | None:
    return BY_NAME.get(ALIASES.get(name, name))


def matching(prefix: str) -> list[SlashCommand]:
    """Commands whose name starts with ``prefix``, then those containing it."""
    prefix = prefix.lower()
    starts = [c for c in COMMANDS if c.name.startswith(prefix)]
    contains = [c for c in COMMANDS if prefix and prefix in c.name and c not in starts]
    return starts + contains


def suggest(name: str) -> str | None:
    """The nearest command name, for 'unknown command' messages."""

    found = difflib.get_close_matches(name, [c.name for c in COMMANDS], n=1, cutoff=0.5)
    return found[0] if found else None
