"""A deliberately broken MCP server: it prints on stdout (the stdio protocol stream).

It prints a banner and a blank line before it starts serving, as many
servers do by mistake. (Once serving, the Python SDK diverts ``print`` to
stderr, so ``chatty``'s print is harmless; servers in other languages get no
such help.) The tool itself works. ``muxi mcp validate`` must fail its
stdout check.

    python tests/mcp_servers/broken_stdout.py
"""

import logging
import sys


def build():  # type: ignore[no-untyped-def]
    from mcp.server import MCPServer

    server = MCPServer("broken-stdout", log_level="WARNING")

    @server.tool()
    def chatty(text: str) -> str:
        """Echo the text, printing a debug line first."""
        print(f"DEBUG chatty called with {text!r}", flush=True)
        return text

    return server


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print("Starting broken-stdout server v0.1 ...", flush=True)
    print("", flush=True)
    build().run()


if __name__ == "__main__":
    main()
