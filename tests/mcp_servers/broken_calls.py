"""A deliberately broken MCP server: tools that crash or hang the process.

``ok`` works; ``explode`` raises a plain exception (a tool error the client
sees); ``crash`` kills the process in the middle of the call; ``hang`` blocks
the server's event loop forever (so every later request hangs too, until
the client restarts the server). ``muxi mcp test`` must report the crash and
the hang, bounded by its timeout, and go on with the other tools.

    python tests/mcp_servers/broken_calls.py
"""

import logging
import os
import sys
import threading


def build():  # type: ignore[no-untyped-def]
    from mcp.server import MCPServer

    server = MCPServer("broken-calls", log_level="WARNING")

    @server.tool()
    def ok(text: str) -> str:
        """Echo the text."""
        return text

    @server.tool()
    def explode(text: str) -> str:
        """Raise a plain exception."""
        raise ValueError(f"cannot handle {text!r}")

    @server.tool()
    def crash() -> str:
        """Kill the server process mid-call."""
        sys.stderr.write("broken_calls: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(7)

    @server.tool()
    def hang() -> str:
        """Block the server forever."""
        threading.Event().wait()
        return "never"

    @server.resource("broken://fine", mime_type="text/plain")
    def fine() -> str:
        """A resource that reads fine."""
        return "fine"

    @server.resource("broken://failing", mime_type="text/plain")
    def failing() -> str:
        """A resource whose read fails."""
        raise RuntimeError("the disk is on fire")

    return server


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    build().run()


if __name__ == "__main__":
    main()
