"""MCP developer tooling, headless: targets, sessions, validation, tests, docs.

``muxi mcp validate|test|docs|inspect`` and the chat app's ``/mcp`` commands
are thin front ends over these modules. Nothing here imports Textual, Typer
or rich; the MCP SDK is imported inside the functions that use it.
"""
