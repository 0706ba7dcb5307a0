"""An MCP server whose one tool answers with the trace context its request carried.

python tests/mcp_servers/trace_echo.py        # stdio
"""

import json

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

server = MCPServer("trace", log_level="WARNING")


@server.tool()
def trace_meta(ctx: Context) -> str:
    """The traceparent and tracestate of this request's _meta, as JSON."""
    meta = dict(ctx.request_context.meta or {})
    return json.dumps({k: meta.get(k) for k in ("traceparent", "tracestate")})


if __name__ == "__main__":
    server.run()
