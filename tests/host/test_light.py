"""The modules a command imports to find its host stay light (docs/architecture.md)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("anthropic", "openai", "mcp", "lancedb", "pyarrow", "fastapi", "uvicorn", "httpx",
         "pydantic", "numpy", "onnxruntime", "yaml", "textual", "rich")  # fmt: skip


def test_finding_a_host_imports_nothing_heavy() -> None:
    code = (
        "import json, sys\n"
        "import muxi_cli.host.client, muxi_cli.host.connect\n"
        "muxi_cli.host.client.find_host(None)\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
