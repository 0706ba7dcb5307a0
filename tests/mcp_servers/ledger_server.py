"""An MCP server whose one tool has a side effect a test can count.

    python tests/mcp_servers/ledger_server.py LEDGER_FILE   # stdio

``record(note)`` appends ``note`` as a line to LEDGER_FILE: a turn that runs
twice writes its note twice.
"""

import logging
import sys
from pathlib import Path


def build(ledger: Path):  # type: ignore[no-untyped-def]
    from mcp.server import MCPServer

    server = MCPServer("ledger", log_level="WARNING")

    @server.tool()
    def record(note: str) -> str:
        """Write a note into the ledger (once per call)."""
        with ledger.open("a", encoding="utf-8") as f:
            f.write(note + "\n")
        return f"recorded {note}"

    return server


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    build(Path(sys.argv[1])).run()
