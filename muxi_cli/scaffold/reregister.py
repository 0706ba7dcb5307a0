"""Register an existing generated project again (``muxi create mcp-server NAME --register-only``).

Right after generation a stdio server is registered with the Python running
muxi; once the project has its own ``.venv`` the entry should point there.
This writes no project file: it adds the entry when there is none, or
rewrites the server's own entry in place when it is this project's (same
``cwd``, or the same URL for an HTTP server), keeping every other line and
comment of the file. An entry holding settings muxi did not write (a policy,
extra environment variables) is left alone and the error carries the snippet,
so nothing the user added is lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.config.loader import load_formation
from muxi_cli.errors import ConfigError, UsageError
from muxi_cli.scaffold.options import ScaffoldOptions
from muxi_cli.scaffold.register import (
    Registration,
    _get,
    _last_line,
    _line_end,
    _write_atomic,
    entry_lines,
    register_server,
    server_entry,
    snippet,
    verified_edit,
)

if TYPE_CHECKING:
    from yaml.nodes import Node

#: Keys (and ``env`` variables) an entry written by ``--register`` can hold.
_OURS = {"command", "args", "cwd", "env", "url"}
_OUR_ENV = {"PYTHONPATH"}


def check_project(options: ScaffoldOptions) -> None:
    """The project folder must hold a generated project (nothing is generated here)."""
    project = options.output_dir
    package = project / "src" / options.name.package
    if not (project / "pyproject.toml").is_file() or not package.is_dir():
        raise UsageError(
            f"no generated project {options.name.dist!r} at {project} "
            f"(looked for pyproject.toml and src/{options.name.package})",
            hint="Pass the project folder with --output-dir, or leave out --register-only "
            "to create the project.",
        )


def _is_this_project(existing: Any, entry: dict[str, Any], project: Path) -> bool:
    if "url" in entry:
        return bool(getattr(existing, "url", None) == entry["url"])
    cwd = getattr(existing, "cwd", None)
    if not cwd:
        return False
    try:
        return Path(cwd).expanduser().resolve() == project.resolve()
    except OSError:
        return False


def _only_our_settings(value: Node) -> bool:
    from yaml.nodes import MappingNode, ScalarNode  # deferred: PyYAML is slow to import

    if not isinstance(value, MappingNode):
        return False
    for key, item in value.value:
        if not isinstance(key, ScalarNode) or key.value not in _OURS:
            return False
        if key.value == "env":
            names = {k.value for k, _ in item.value} if isinstance(item, MappingNode) else None
            if names is None or not names <= _OUR_ENV:
                return False
    return True


def replace_server_text(text: str, name: str, entry: dict[str, Any], source: Path) -> str:
    """``text`` with the lines of server ``name``'s entry replaced by ``entry``."""
    import yaml  # deferred: PyYAML is slow to import
    from yaml.nodes import MappingNode, ScalarNode  # deferred: PyYAML is slow to import

    manual = "The file was not changed. Edit the entry by hand:\n" + snippet(name, entry)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}", hint="Fix the file first.") from None
    found = _get(root, "mcp_servers") if root is not None else None
    servers = found[1] if found else None
    if not isinstance(servers, MappingNode) or servers.flow_style:
        raise UsageError(
            "the muxi.yaml writes mcp_servers in a style that cannot be edited safely",
            hint=manual,
        )
    pair = next(
        ((k, v) for k, v in servers.value if isinstance(k, ScalarNode) and k.value == name), None
    )
    if pair is None:  # pragma: no cover - the caller checked that the entry exists
        raise UsageError(f"{source} has no MCP server named {name!r}")
    key, value = pair
    if not _only_our_settings(value):
        raise UsageError(
            f"the entry for {name!r} in {source} has settings muxi did not write",
            hint=manual,
        )
    start = _line_end(text, key.start_mark.line - 1) if key.start_mark.line else 0
    end = _line_end(text, _last_line(value))
    block = "\n".join(entry_lines(name, entry, key.start_mark.column)) + "\n"
    return text[:start] + block + text[end:]


def reregister_server(formation_path: Path, options: ScaffoldOptions) -> Registration:
    """Add the existing project to ``formation_path``, or point its entry at the project's venv."""

    check_project(options)
    path = formation_path.resolve()
    loaded = load_formation(path)
    name = options.name.dist
    existing = loaded.formation.mcp_servers.get(name)
    if existing is None:
        return register_server(formation_path, options)
    entry = server_entry(options)
    if not _is_this_project(existing, entry, options.output_dir):
        raise UsageError(
            f"{path} already has an MCP server named {name!r} that is not the project at "
            f"{options.output_dir}",
            hint="Pass that project's folder with --output-dir, or remove the entry first.",
        )
    text = path.read_text(encoding="utf-8")
    new_text = replace_server_text(text, name, entry, path)
    check = verified_edit(new_text, path, name, entry, "update", "updating", "Edit the entry")
    if new_text != text:
        _write_atomic(path, new_text)
    agent = loaded.formation.default_agent
    used_by = (
        agent if agent and (a := check.formation.agent(agent)) and name in a.mcp_servers else None
    )
    notes = [
        "updated the existing entry" if new_text != text else "the entry was already up to date"
    ]
    return Registration(formation=path, server=name, entry=entry, agent=used_by, notes=notes)
