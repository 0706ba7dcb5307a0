"""Tools: MCP servers, local Python functions, built-ins, approval. Headless."""
