"""Command registration is explicit: cli/app.py's COMMANDS, and nothing at import time."""

from __future__ import annotations

import json
import subprocess
import sys

from muxi_cli.cli.app import COMMANDS, load_command

# Runs in a fresh process: import every command module, then list each Typer's commands.
_PROBE = r"""
import importlib, json, sys
from muxi_cli.cli.app import COMMANDS
names = {}
for entry in COMMANDS:
    for module in (entry.module, *entry.extends):
        importlib.import_module(module)
for entry in COMMANDS:
    if entry.kind == "group":
        target = getattr(sys.modules[entry.module], entry.attr)
        names[entry.name] = [c.name for c in target.registered_commands]
print(json.dumps(names))
"""


def test_importing_a_command_module_registers_nothing_elsewhere() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout
    groups = json.loads(out)
    # Before app.py registers the extensions, each group has only its own module's commands.
    assert groups["keys"] == ["set", "delete", "list"]
    assert "validate" not in groups["mcp"] and "call" in groups["mcp"]
    assert "export" not in groups["memory"] and "forget" in groups["memory"]


def test_extensions_are_registered_once_in_order() -> None:
    for entry in COMMANDS:
        if not entry.extends:
            continue
        for _ in range(3):  # every `muxi` invocation in a process loads the group again
            command = load_command(entry.name)
            assert command is not None
            names = list(command.commands)  # type: ignore[attr-defined]
            assert len(names) == len(set(names)), names
    keys = load_command("keys")
    assert list(keys.commands) == ["set", "delete", "list", "create", "revoke"]  # type: ignore[union-attr]
    mcp = load_command("mcp")
    # The logins sit with the everyday commands, the authoring tools last (the
    # suite's conformance client is hidden from --help).
    assert list(mcp.commands)[-8:] == [  # type: ignore[union-attr]
        "read", "login", "logout", "validate", "test", "docs", "inspect", "conformance-client",
    ]  # fmt: skip
    memory = load_command("memory")
    assert list(memory.commands) == [  # type: ignore[union-attr]
        "list", "search", "add", "show", "forget",
        "export", "import", "prune", "stats", "map", "reindex", "optimize", "extraction",
    ]  # fmt: skip
