"""Fixtures for the MCP developer tooling tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tools.support import start_http_demo, stop_proc


@pytest.fixture(scope="module")
def http_demo() -> Iterator[str]:
    """The demo server over streamable HTTP; yields its URL."""
    proc, port = start_http_demo("--http")
    yield f"http://127.0.0.1:{port}/mcp"
    stop_proc(proc)
