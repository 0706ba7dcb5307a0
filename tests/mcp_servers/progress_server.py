"""An MCP server that reports progress, logs, and asks for the client's roots.

``count(steps)`` reports progress after each step (and logs at info and
debug level); ``roots()`` returns the client's roots as text (a resolver that
asks ``roots/list``); ``shout()`` logs a warning with a fake secret in it.

    python tests/mcp_servers/progress_server.py [--http PORT]
"""

import argparse
import asyncio
import logging
import sys
from typing import Annotated


def build():  # type: ignore[no-untyped-def]
    from mcp.server import MCPServer
    from mcp.server.mcpserver import Context, ListRoots, Resolve
    from mcp_types import ListRootsResult

    server = MCPServer("progress", log_level="WARNING")

    @server.tool()
    async def count(steps: int, ctx: Context) -> str:
        """Count to ``steps``, reporting progress after each step."""
        await ctx.info(f"counting to {steps}")
        for step in range(1, steps + 1):
            # Long enough apart that the client's thinning lets each one through.
            await asyncio.sleep(0.15)
            await ctx.report_progress(step, steps, f"step {step} of {steps}")
            await ctx.debug(f"step {step}")
        return f"counted to {steps}"

    def ask_roots() -> ListRoots:
        return ListRoots()

    @server.tool()
    def roots(found: Annotated[ListRootsResult, Resolve(ask_roots)]) -> str:
        """The client's roots, one URI a line."""
        return "\n".join(str(r.uri) for r in found.roots) or "(no roots)"

    @server.tool()
    async def shout(ctx: Context) -> str:
        """Log a warning."""
        await ctx.warning("disk almost full; token sk-ant-abcdefghijklmnopqrstuvwxyz0123")
        return "shouted"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    server = build()
    if args.http is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
