"""The Python examples of docs/clients.md that need no file or placeholder,
run against a real ``muxi serve`` (tests/client/conftest.py): a reader copies
them as they are."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from muxi_cli.client import AsyncClient
from tests.client.conftest import Served
from tests.fakellm import Text, ToolCalls

DOC = Path(__file__).resolve().parents[2] / "docs" / "clients.md"


def example(marker: str) -> str:
    """The doc's one ```python block containing ``marker``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, (marker, len(found))
    return found[0]


async def run_example(code: str, **names: Any) -> None:
    """Run a block written for a notebook cell (top-level ``await``) with ``names`` bound."""
    body = "".join(f"    {line}\n" for line in code.splitlines())
    scope: dict[str, Any] = dict(names)
    exec(f"async def _example():\n{body}", scope)  # the doc's own example, as written
    await scope["_example"]()


async def test_the_approval_example_runs(client: AsyncClient, served: Served) -> None:
    served.llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("42"))
    await run_example(example('approval="interactive"'), c=client)
    sessions = await client.sessions.list(limit=1)
    messages = await client.sessions.messages(sessions[0]["id"])
    assert "42" in str(messages[-1])
