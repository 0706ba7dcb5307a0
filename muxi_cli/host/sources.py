"""The files a formation is loaded from, for the host's freshness check.

The formation file, every agent file it names, and (when it has no ``agents:``
key) the ``agents/`` folder next to it with the YAML files in it: the folder's
own mtime changes when a file is added or removed. This follows
``muxi_cli.config.loader._collect_agents``; a test loads formations both ways.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    return files
