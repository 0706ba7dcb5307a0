"""A small MCP server over streamable HTTP for the conformance client's tests.

    python tests/mcp_servers/plain_http.py --port N

Tools: ``add_numbers`` (the conformance suite's tools_call tool has this name
and shape) and ``refuse``, which always answers with an error result.
"""

import argparse
import logging

logging.basicConfig(level=logging.WARNING)  # before MCPServer: it configures root logging

from mcp.server import MCPServer  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402

server = MCPServer("plain-http")


@server.tool()
def add_numbers(a: int, b: int) -> str:
    """Add two numbers."""
    return f"The sum of {a} and {b} is {a + b}"


@server.tool()
def refuse() -> str:
    """Always an error result."""
    raise ToolError("refused on purpose")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server.run("streamable-http", host="127.0.0.1", port=args.port)
