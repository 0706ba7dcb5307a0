"""A deliberately broken MCP server: bad schemas, names and descriptions.

``muxi mcp validate`` must fail it (invalid input and output schemas, an
invalid tool name, a duplicate name, structured content that does not match
the declared output schema) and warn about the rest (no description, an
oversized description, undescribed prompt arguments).

    python tests/mcp_servers/broken_schema.py    # stdio
"""

import logging
import sys
from typing import Any


def build():  # type: ignore[no-untyped-def]
    from mcp.server import MCPServer
    from mcp.types import CallToolResult, TextContent, ToolAnnotations
    from mcp.types import Tool as WireTool

    class Broken(MCPServer):
        async def list_tools(self) -> list[WireTool]:  # type: ignore[override]
            tools = await super().list_tools()
            patched: list[WireTool] = []
            for tool in tools:
                if tool.name == "bad_input":
                    tool = tool.model_copy(
                        update={
                            "input_schema": {
                                "type": "object",
                                "properties": {"n": {"type": "integr", "minimum": "zero"}},
                            }
                        }
                    )
                elif tool.name == "bad_output":
                    tool = tool.model_copy(
                        update={
                            "output_schema": {"type": "object", "properties": {"x": {"type": 5}}}
                        }
                    )
                elif tool.name == "mismatch":
                    tool = tool.model_copy(
                        update={
                            "output_schema": {
                                "type": "object",
                                "properties": {"count": {"type": "integer"}},
                                "required": ["count"],
                            }
                        }
                    )
                patched.append(tool)
            # The same name twice, and a name clients cannot use.
            patched.append(patched[0].model_copy())
            patched.append(patched[0].model_copy(update={"name": "bad name!"}))
            return patched

    server = Broken("broken-schema", log_level="WARNING")

    @server.tool()
    def good(text: str) -> str:
        """Echo the text (the one well-formed tool)."""
        return text

    @server.tool()
    def bad_input(n: int = 1) -> str:
        """Its input schema is replaced by an invalid one."""
        return str(n)

    @server.tool()
    def bad_output() -> str:
        """Its output schema is replaced by an invalid one."""
        return "x"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def mismatch() -> Any:
        """Read-only; its structured result does not match its output schema."""
        return CallToolResult(
            content=[TextContent(type="text", text="count is many")],
            structured_content={"count": "many"},
        )

    @server.tool(description="")
    def undocumented(value: str) -> str:
        return value

    @server.tool(description="A tool with a very long description. " + "Blah blah. " * 150)
    def verbose() -> str:
        return "ok"

    @server.prompt()
    def ask(topic: str, tone: str = "plain") -> str:
        """Ask about a topic."""
        return f"Tell me about {topic} in a {tone} tone."

    return server


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    build().run()


if __name__ == "__main__":
    main()
