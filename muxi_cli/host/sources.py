"""The files a formation is loaded from, for the host's freshness check.

The formation file, every agent file it names, and (when it has no ``agents:``
key) the ``agents/`` folder next to it with the YAML files in it: the folder's
own mtime changes when a file is added or removed. Also the modules of the
``python:`` tools that live in the formation folder (the host imported them
once). This follows ``muxi_cli.config.loader._collect_agents``; a test loads
formations both ways.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

AGENT_SUFFIXES = (".yaml", ".yml")


def formation_sources(formation: Path | None) -> list[Path]:
    if formation is None:
        return []
    import yaml  # deferred: only the daemon and tests call this

    files = [formation]
    try:
        doc = yaml.safe_load(formation.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return files
    base = formation.parent
    if isinstance(doc, dict) and "agents" in doc:
        agents = doc["agents"]
        values = list(agents.values()) if isinstance(agents, dict) else agents
        for value in values if isinstance(values, list) else []:
            if isinstance(value, str):
                path = Path(os.path.expandvars(value)).expanduser()
                files.append(path if path.is_absolute() else base / path)
    elif (base / "agents").is_dir():
        folder = base / "agents"
        files.append(folder)
        files.extend(
            p for p in sorted(folder.iterdir()) if p.suffix in AGENT_SUFFIXES and p.is_file()
        )
    refs: set[str] = set()
    for path in files:
        if path is formation:
            _python_refs(doc, refs)
        elif path.suffix in AGENT_SUFFIXES:
            try:
                _python_refs(yaml.safe_load(path.read_text(encoding="utf-8")), refs)
            except (OSError, yaml.YAMLError):
                continue
    files.extend(_module_files(base, refs))
    return files


def _python_refs(node: Any, into: set[str]) -> None:
    """Every ``python: module:function`` tool reference in a loaded YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "python" and isinstance(value, str) and ":" in value:
                into.add(value.partition(":")[0])
            else:
                _python_refs(value, into)
    elif isinstance(node, list):
        for item in node:
            _python_refs(item, into)


def _module_files(base: Path, modules: set[str]) -> list[Path]:
    """The files of the Python tool modules found in the formation folder (where
    ``load_function`` imports them from first): a host imports them once, so an
    edit must make it stale. Modules from elsewhere (installed) are not watched."""
    out: list[Path] = []
    for name in sorted(modules):
        parts = [p for p in name.split(".") if p]
        if not parts:
            continue
        stem = base.joinpath(*parts)
        for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
            if candidate.is_file():
                out.append(candidate)
                break
    return out
