"""Fixtures for the tool layer: demo servers over HTTP/SSE and a manager factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.config.schema import Formation
from muxi_cli.tools.host import ToolManager
from tests.tools.support import ManagerFactory, start_http_demo, stop_proc


@pytest.fixture(scope="module")
def http_demo() -> Iterator[str]:
    """The demo server over streamable HTTP; yields its URL."""
    proc, port = start_http_demo("--http")
    yield f"http://127.0.0.1:{port}/mcp"
    stop_proc(proc)


@pytest.fixture(scope="module")
def sse_demo() -> Iterator[str]:
    """The demo server over legacy SSE; yields its URL."""
    proc, port = start_http_demo("--sse")
    yield f"http://127.0.0.1:{port}/sse"
    stop_proc(proc)


@pytest.fixture
async def make_manager(tmp_path: Path) -> AsyncIterator[ManagerFactory]:
    """Build ToolManagers from formation dicts; all are closed after the test."""
    made: list[ToolManager] = []

    def factory(data: dict[str, Any], base_dir: Path | None = None) -> ToolManager:
        manager = ToolManager(Formation.model_validate(data), base_dir=base_dir or tmp_path)
        made.append(manager)
        return manager

    yield factory
    for manager in made:
        await manager.aclose()
