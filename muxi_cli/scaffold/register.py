"""Add a generated MCP server to a ``muxi.yaml`` without losing its comments.

PyYAML would drop comments on a round trip, so the file is edited as text: the
document is *composed* (parsed into nodes that know their line and column),
insertion points are computed from those positions, and the new lines are
spliced in. The result is parsed and validated as a formation before it
replaces the file (atomically); on any doubt nothing is written and the error
carries the snippet to paste by hand.

Which command is registered for a stdio server:

- ``<project>/.venv/bin/python -m <pkg>`` (with ``cwd``) when the project has
  its own virtual environment;
- otherwise the Python running muxi (which has the MCP SDK 2.x installed) with
  ``cwd`` = the project and ``PYTHONPATH`` = its ``src`` folder, so the server
  works at once, before any install. ``--register-only`` (see
  :mod:`muxi_cli.scaffold.reregister`) switches the entry to the project's
  ``.venv`` once it has one.

An HTTP-only server is registered by URL; it must be running to be used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.config.loader import find_formation, load_document, load_formation
from muxi_cli.config.yamlio import parse_yaml
from muxi_cli.errors import ConfigError, UsageError
from muxi_cli.scaffold.options import ScaffoldOptions
from muxi_cli.scaffold.templates import venv_python

if TYPE_CHECKING:
    from yaml.nodes import Node

    from muxi_cli.config.loader import LoadedFormation

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


@dataclass
class Registration:
    formation: Path
    server: str
    entry: dict[str, Any]
    agent: str | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "formation": str(self.formation),
            "server": self.server,
            "entry": self.entry,
            "agent": self.agent,
            "notes": self.notes,
        }


def server_entry(options: ScaffoldOptions) -> dict[str, Any]:
    """The ``mcp_servers`` entry for the project (see the module docstring)."""
    project = options.output_dir
    if not options.stdio:
        return {"url": f"http://127.0.0.1:{options.port}/mcp"}
    own = venv_python(project)
    if own.exists():
        return {"command": str(own), "args": ["-m", options.name.package], "cwd": str(project)}
    return {
        "command": str(Path(sys.executable).absolute()),
        "args": ["-m", options.name.package],
        "cwd": str(project),
        "env": {"PYTHONPATH": str(project / "src")},
    }


def _scalar(value: str) -> str:
    """A YAML scalar for ``value``; ``$`` is doubled so ``${VAR}`` expansion keeps it."""
    value = value.replace("$", "$$")
    if _PLAIN.match(value) and value.lower() not in _SPECIAL:
        return value
    return json.dumps(value, ensure_ascii=False)


def entry_lines(name: str, entry: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines = [f"{pad}{_scalar(name)}:"]
    for key, value in entry.items():
        if isinstance(value, list):
            lines.append(f"{pad}  {key}: [{', '.join(_scalar(str(v)) for v in value)}]")
        elif isinstance(value, dict):
            lines.append(f"{pad}  {key}:")
            lines.extend(f"{pad}    {_scalar(k)}: {_scalar(str(v))}" for k, v in value.items())
        else:
            lines.append(f"{pad}  {key}: {_scalar(str(value))}")
    return lines


def snippet(name: str, entry: dict[str, Any]) -> str:
    return "\n".join(["mcp_servers:", *entry_lines(name, entry, 2)]) + "\n"


# --------------------------------------------------------------------------- text positions


def _last_line(node: Node) -> int:
    """The last line (0-based) holding text of ``node``."""
    from yaml.nodes import (  # deferred: PyYAML is slow to import
        MappingNode,
        ScalarNode,
        SequenceNode,
    )

    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        end = node.end_mark
        if end.column == 0 and end.line > node.start_mark.line:
            return int(end.line) - 1
        return int(end.line)
    if isinstance(node, MappingNode):
        return max(max(_last_line(k), _last_line(v)) for k, v in node.value)
    if isinstance(node, SequenceNode):
        return max(_last_line(item) for item in node.value)
    return int(node.end_mark.line)


def _line_end(text: str, line: int) -> int:
    """Offset just after the newline that ends ``line`` (0-based)."""
    offset = 0
    for _ in range(line + 1):
        nxt = text.find("\n", offset)
        if nxt == -1:
            return len(text)
        offset = nxt + 1
    return offset


def _get(mapping: Node, key: str) -> tuple[Node, Node] | None:
    from yaml.nodes import MappingNode, ScalarNode  # deferred: PyYAML is slow to import

    if not isinstance(mapping, MappingNode):
        return None
    for k, v in mapping.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return k, v
    return None


def _is_null(node: Node) -> bool:
    from yaml.nodes import ScalarNode  # deferred: PyYAML is slow to import

    return isinstance(node, ScalarNode) and node.value in ("", "~", "null", "Null", "NULL")


Edit = tuple[int, int, str]  # offset, length removed, text inserted


def _insert_lines(text: str, after_line: int, lines: list[str]) -> Edit:
    offset = _line_end(text, after_line)
    block = "\n".join(lines) + "\n"
    if offset == len(text) and not text.endswith("\n"):
        block = "\n" + block
    return (offset, 0, block)


def _server_edits(text: str, root: Node | None, name: str, entry: dict[str, Any]) -> list[Edit]:
    from yaml.nodes import MappingNode  # deferred: PyYAML is slow to import

    found = _get(root, "mcp_servers") if root is not None else None
    if found is None:
        block = snippet(name, entry)
        prefix = "" if not text or text.endswith("\n") else "\n"
        return [(len(text), 0, f"{prefix}\n{block}" if text.strip() else block)]
    key, value = found
    if isinstance(value, MappingNode) and not value.flow_style and value.value:
        indent = value.value[0][0].start_mark.column
        return [_insert_lines(text, _last_line(value), entry_lines(name, entry, indent))]
    if (isinstance(value, MappingNode) and value.flow_style and not value.value) or _is_null(value):
        start, end = value.start_mark.index, value.end_mark.index
        while end > start and start > 0 and text[start - 1] in " \t":
            start -= 1  # "mcp_servers: {}  # c" -> "mcp_servers:  # c"
        removal = (start, end - start, "") if end > start else None
        insert = _insert_lines(text, key.start_mark.line, entry_lines(name, entry, 2))
        return [e for e in (removal, insert) if e is not None]
    raise UsageError(
        "the muxi.yaml writes mcp_servers in a style that cannot be edited safely (flow style)",
        hint="Add the server by hand:\n" + snippet(name, entry),
    )


def _agent_node(root: Node, agent: str) -> Node | None:
    from yaml.nodes import (  # deferred: PyYAML is slow to import
        MappingNode,
        ScalarNode,
        SequenceNode,
    )

    found = _get(root, "agents")
    if found is None:
        return None
    _, agents = found
    if isinstance(agents, SequenceNode):
        for item in agents.value:
            named = _get(item, "name")
            if named and isinstance(named[1], ScalarNode) and named[1].value == agent:
                return item
    elif isinstance(agents, MappingNode):
        for k, v in agents.value:
            if isinstance(k, ScalarNode) and k.value == agent:
                return v
    return None


def _agent_edits(
    text: str, root: Node | None, agent: str, server: str, *, builtin_agent: bool
) -> tuple[list[Edit], str]:
    """Edits that add ``server`` to ``agent``'s list, and a note when that is not possible."""
    from yaml.nodes import MappingNode, SequenceNode  # deferred: PyYAML is slow to import

    if root is None or _get(root, "agents") is None:
        if not builtin_agent:
            return [], (
                f"the agents come from agent files, not this file: add {server!r} to "
                f"{agent!r}'s mcp_servers by hand"
            )
        lines = ["agents:", f"  - name: {_scalar(agent)}", f"    mcp_servers: [{_scalar(server)}]"]
        prefix = "" if text.endswith("\n") else "\n"
        return [(len(text), 0, prefix + "\n" + "\n".join(lines) + "\n")], ""
    node = _agent_node(root, agent)
    if not isinstance(node, MappingNode) or node.flow_style:
        return [], (
            f"the agent {agent!r} is not written as a block mapping in this file "
            f"(an agent file or flow style): add {server!r} to its mcp_servers by hand"
        )
    found = _get(node, "mcp_servers")
    if found is None:
        # Right after the agent's first entry (normally `name:`), at its indentation.
        first_key, first_value = node.value[0]
        line = f"{' ' * first_key.start_mark.column}mcp_servers: [{_scalar(server)}]"
        after = max(_last_line(first_key), _last_line(first_value))
        return [_insert_lines(text, after, [line])], ""
    key, value = found
    if isinstance(value, SequenceNode) and value.flow_style:
        close = value.end_mark.index - 1
        if text[close] != "]":
            return [], f"could not find the end of {agent!r}'s mcp_servers list"
        return [(close, 0, (", " if value.value else "") + _scalar(server))], ""
    if isinstance(value, SequenceNode) and value.value:
        first = value.value[0]
        line_start = text.rfind("\n", 0, first.start_mark.index) + 1
        prefix = text[line_start : first.start_mark.index]
        if prefix.strip() != "-":
            return [], f"could not read the layout of {agent!r}'s mcp_servers list"
        return [_insert_lines(text, _last_line(value), [prefix + _scalar(server)])], ""
    if _is_null(value):
        start, end = value.start_mark.index, value.end_mark.index
        if end > start:
            return [(start, end - start, f"[{_scalar(server)}]")], ""
        return [(key.end_mark.index + 1, 0, f" [{_scalar(server)}]")], ""
    return [], f"could not edit {agent!r}'s mcp_servers safely: add {server!r} by hand"


def _apply(text: str, edits: list[Edit]) -> str:
    for offset, length, insert in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:offset] + insert + text[offset + length :]
    return text


def add_server_text(
    text: str,
    name: str,
    entry: dict[str, Any],
    *,
    agent: str | None,
    source: Path,
    builtin_agent: bool = True,
) -> tuple[str, str]:
    """Return the new text of a formation with the server (and the agent's use of it),
    and a note ("" when everything was done).

    ``builtin_agent``: with no ``agents:`` key, the formation runs the built-in
    ``assistant`` (rather than agent files found next to it), so an explicit
    ``agents:`` entry for it may be added."""
    import yaml  # deferred: PyYAML is slow to import

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}", hint="Fix the file first.") from None
    edits = _server_edits(text, root, name, entry)
    note = ""
    if agent:
        server_edits_text = _apply(text, edits)
        root2 = yaml.compose(server_edits_text, Loader=yaml.SafeLoader)
        agent_edits, note = _agent_edits(
            server_edits_text, root2, agent, name, builtin_agent=builtin_agent
        )
        return _apply(server_edits_text, agent_edits), note
    return _apply(text, edits), note


def register_server(formation_path: Path, options: ScaffoldOptions) -> Registration:
    """Add the generated server to ``formation_path`` (and to its default agent)."""

    path = formation_path.resolve()
    loaded = load_formation(path)
    name = options.name.dist
    if name in loaded.formation.mcp_servers:
        raise UsageError(
            f"{path} already has an MCP server named {name!r}",
            hint="Remove that entry first, or choose another --name.",
        )
    entry = server_entry(options)
    text = path.read_text(encoding="utf-8")
    agent = loaded.formation.default_agent
    new_text, note = add_server_text(
        text, name, entry, agent=agent, source=path, builtin_agent=_runs_builtin_agent(loaded)
    )

    check = verified_edit(new_text, path, name, entry, "add", "adding", "Add the server")
    used_by = None
    if agent and (found := check.formation.agent(agent)) and name in found.mcp_servers:
        used_by = agent
    _write_atomic(path, new_text)
    notes = [note] if note else []
    if not options.stdio:
        notes.append(f"start the server before using it: {name} --transport http")
    return Registration(formation=path, server=name, entry=entry, agent=used_by, notes=notes)


def _runs_builtin_agent(loaded: LoadedFormation) -> bool:
    """True when the formation has no agents of its own (only the built-in one)."""
    from muxi_cli.config.schema import DEFAULT_AGENT_NAME, AgentConfig  # deferred: loads pydantic

    builtin = AgentConfig(name=DEFAULT_AGENT_NAME).model_dump()
    return [a.model_dump() for a in loaded.formation.agents] == [builtin]


def _write_atomic(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def find_formation_file(explicit: str | None = None) -> Path | None:
    """The ``muxi.yaml`` in use (``--config``, ``$MUXI_CONFIG``, ``./muxi.yaml``, user config)."""

    path = find_formation(explicit)
    return path if path is not None and path.is_file() else None


def verified_edit(
    new_text: str,
    path: Path,
    name: str,
    entry: dict[str, Any],
    verb: str,
    doing: str,
    by_hand: str,
) -> Any:
    """The loaded formation of ``new_text``, which must load with ``name``'s entry
    exactly as intended; otherwise a :class:`ConfigError` (the file is untouched)."""

    hint = f"The file was not changed. {by_hand} by hand:\n" + snippet(name, entry)
    try:
        check = load_document(parse_yaml(new_text, path), path)
    except ConfigError as exc:
        raise ConfigError(
            f"{doing} {name!r} {'to' if verb == 'add' else 'in'} {path} would break it "
            f"({exc.message})",
            hint=hint,
        ) from None
    got = check.formation.mcp_servers.get(name)
    if got is None or any(getattr(got, k) != v for k, v in entry.items()):
        raise ConfigError(
            f"could not {verb} {name!r} {'to' if verb == 'add' else 'in'} {path} safely",
            hint=hint,
        )
    return check
