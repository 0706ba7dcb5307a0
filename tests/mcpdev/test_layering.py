"""mcpdev is headless and light: no Textual/Typer/rich, no MCP SDK at import time."""

from __future__ import annotations

import json
import subprocess
import sys

HEADLESS = [
    "muxi_cli.mcpdev.target",
    "muxi_cli.mcpdev.session",
    "muxi_cli.mcpdev.examples",
    "muxi_cli.mcpdev.forms",
    "muxi_cli.mcpdev.validate",
    "muxi_cli.mcpdev.testing",
    "muxi_cli.mcpdev.cases",
    "muxi_cli.mcpdev.docs",
]


def test_mcpdev_imports_nothing_heavy_or_ui() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {HEADLESS!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'typer', 'rich', 'mcp', 'httpx', 'jsonschema'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_inspector_screen_reaches_servers_only_through_a_dev_session() -> None:
    from pathlib import Path

    import muxi_cli.tui.mcp_inspect as pkg

    for path in Path(pkg.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import mcp" not in text and "from mcp" not in text, path
        assert "muxi_cli.tools" not in text, path
