"""The muxi server: any Runtime over HTTP, SSE and WebSocket (``muxi serve``)."""
