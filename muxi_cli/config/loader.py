"""Find, read, expand and validate the formation (``muxi.yaml``).

Search order (:func:`locate_formation`): the ``--config`` flag, ``$MUXI_CONFIG``,
``./muxi.yaml`` (or ``./muxi.yml``), ``<config dir>/muxi.yaml``; with none of
them, the built-in formation (a single ``assistant`` agent).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.config.agents import AgentSource, Collected, normalize_agent
from muxi_cli.config.diagnostics import validation_error
from muxi_cli.config.expand import ExpansionError, KeyPath, expand, format_path
from muxi_cli.config.locate import FILE_NAMES, FormationSource, find_formation, locate_formation
from muxi_cli.config.masking import configured_secrets, mask_secrets
from muxi_cli.config.yamlio import read_yaml
from muxi_cli.errors import ConfigError, with_article
from muxi_cli.redact import remember

if TYPE_CHECKING:
    from muxi_cli.config.agents import AgentSource, Collected
    from muxi_cli.config.schema import Formation

__all__ = [
    "FILE_NAMES",
    "FormationSource",
    "LoadedFormation",
    "find_formation",
    "load_formation",
    "locate_formation",
    "mask_secrets",
]

AGENT_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedFormation:
    formation: Formation
    #: ``None`` = the built-in default (a single ``assistant`` agent).
    path: Path | None
    #: The validated document: the parsed YAML after ``${VAR}`` expansion, with
    #: agent files merged in and their MCP servers hoisted.
    raw: dict[str, Any]
    #: Things that loaded but were ignored or translated (original muxi format).
    warnings: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- agents


def _agent_file(ref: str, base: Path, where: str) -> Path:
    path = Path(os.path.expandvars(ref)).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise ConfigError(
            f"{where}: agent file {ref!r} not found (looked for {path})",
            hint="Agent file paths are relative to the formation file.",
        )
    return path


def _read_agent_file(path: Path) -> dict[str, Any]:

    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: an agent file must be a mapping (name, description, system_message, model, ...)",
            hint="See docs/configuration.md, 'Agent files'.",
        )
    return data


def _collect_agents(
    doc: dict[str, Any], main: Path | None
) -> tuple[list[Any], list[AgentSource], Collected]:
    """The final agents list, where each entry came from, and hoisted extras."""

    out = Collected()
    base = main.parent if main is not None else Path.cwd()
    entries: list[tuple[Any, Path | None, KeyPath, bool]] = []  # data, file, prefix, from file
    if "agents" in doc:
        agents = doc["agents"]
        if isinstance(agents, dict):
            items: list[tuple[str | int, Any]] = list(agents.items())
        elif isinstance(agents, list):
            items = list(enumerate(agents))
        elif agents is None:
            items = []
        else:
            return [agents], [AgentSource(main, ("agents",))], out  # the schema reports it
        for key, value in items:
            where: KeyPath = ("agents", key)
            if isinstance(value, str):
                loc = f"{main}: {format_path(where)}" if main else format_path(where)
                path = _agent_file(value, base, loc)
                data = _read_agent_file(path)
                if isinstance(key, str):
                    data = {"name": key, **{k: v for k, v in data.items() if k != "name"}}
                entries.append((data, path, (), True))
            elif isinstance(key, str):
                named = {"name": key, **(value or {})} if isinstance(value, dict | None) else value
                entries.append((named, main, where, False))
            else:
                entries.append((value, main, where, False))
    elif main is not None and (main.parent / "agents").is_dir():
        for path in sorted((main.parent / "agents").iterdir()):
            if path.suffix in AGENT_SUFFIXES and path.is_file():
                entries.append((_read_agent_file(path), path, (), True))
    result: list[Any] = []
    sources: list[AgentSource] = []
    for data, file, prefix, from_file in entries:
        if isinstance(data, dict):
            data = normalize_agent(data, file, prefix, out, agent_file=from_file)
        result.append(data)
        sources.append(AgentSource(file, prefix))
    return result, sources, out


def _merge(doc: dict[str, Any], main: Path | None) -> tuple[dict[str, Any], Any, tuple[str, ...]]:
    """Merge agent files and hoisted servers into ``doc``; return it and a locator."""
    agents, sources, extra = _collect_agents(doc, main)
    merged = dict(doc)
    if agents or "agents" in doc:
        merged["agents"] = agents
    servers = merged.get("mcp_servers")
    hoisted: dict[str, tuple[Path | None, KeyPath]] = {}
    if extra.servers:
        if servers is None:
            servers = {}
        if isinstance(servers, dict):
            servers = dict(servers)
            for name, server in extra.servers.items():
                if name in servers and servers[name] != server:
                    continue  # the formation's own definition wins
                if name not in servers:
                    servers[name] = server
                    hoisted[name] = extra.server_sources[name]
            merged["mcp_servers"] = servers
    if extra.providers:
        providers = merged.get("providers")
        if providers is None or isinstance(providers, dict):
            providers = dict(providers or {})
            for name, entry in extra.providers.items():
                current = providers.get(name)
                if current is None:
                    providers[name] = entry
                elif isinstance(current, dict) and not (
                    current.get("api_key") or current.get("api_key_env")
                ):
                    providers[name] = {**current, **entry}
            merged["providers"] = providers

    def locate(path: KeyPath) -> tuple[Path | None, KeyPath]:
        if len(path) >= 2 and path[0] == "agents" and isinstance(path[1], int):
            index = path[1]
            if 0 <= index < len(sources):
                src = sources[index]
                return src.file, (*src.prefix, *path[2:])
        if len(path) >= 2 and path[0] == "mcp_servers" and path[1] in hoisted:
            file, where = hoisted[str(path[1])]
            return file, (*where, *path[2:])
        return main, path

    return merged, locate, tuple(extra.warnings)


# --------------------------------------------------------------------------- loading


def _expand(doc: dict[str, Any], main: Path | None, locate: Any) -> dict[str, Any]:

    try:
        result = expand(doc)
    except ExpansionError as exc:
        file, path = locate(exc.path)
        where = format_path(path)
        name = file or "the built-in formation"
        hint = (
            f"Set {exc.variable} in the environment (export {exc.variable}=...) "
            f"or give a default: ${{{exc.variable}:-value}}."
            if exc.variable
            else "Write '$$' for a literal '$'."
        )
        raise ConfigError(f"{name}: {where}: {exc.problem}", hint=hint) from None
    assert isinstance(result, dict)
    return result


def _validate(doc: dict[str, Any], main: Path | None, locate: Any) -> Formation:
    from pydantic import ValidationError  # deferred: pydantic is slow to import

    from muxi_cli.config.schema import Formation  # deferred: loads pydantic

    try:
        return Formation.model_validate(doc)
    except ValidationError as exc:
        raise validation_error(exc, Formation, main, locate) from None


def load_document(doc: Any, path: Path | None = None) -> LoadedFormation:
    """Validate an already-parsed formation document (``path`` is for messages
    and for resolving agent files)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        where = path or "formation"
        raise ConfigError(
            f"{where}: the top level must be a mapping of keys (agents, mcp_servers, ...), "
            f"not {with_article(type(doc).__name__)}",
            hint="Start from `muxi init`, which writes a commented example.",
        )
    merged, locate, warnings = _merge(doc, path)
    expanded = _expand(merged, path, locate)
    formation = _validate(expanded, path, locate)

    remember(configured_secrets(expanded))  # never echoed back by errors, logs or exports
    return LoadedFormation(formation=formation, path=path, raw=expanded, warnings=warnings)


def load_formation(path: str | os.PathLike[str] | None = None) -> LoadedFormation:
    """Load and validate the formation (``path`` ``None``: :func:`find_formation`).

    Raises :class:`ConfigError` naming the file, the key and the nearest valid key.
    """

    source = locate_formation(path)
    if source.path is None:
        return load_document({}, None)
    file = source.path
    if not file.exists():
        how = {"flag": "--config", "env": "$MUXI_CONFIG"}.get(source.reason, "")
        raise ConfigError(
            f"{file}: formation file not found" + (f" (from {how})" if how else ""),
            hint=f"Check the path, or run `muxi init --path {file}` to write a starter formation there.",
        )
    return load_document(read_yaml(file), file.resolve())
