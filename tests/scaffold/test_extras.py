"""The template's MCP feature examples (issue 23), on by default, off with
``--no-extras``: log messages to the client, completions of the prompt's and the
resource template's arguments, a tool that reports progress, one that returns
an image. A real client talks to the generated server in memory."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import LoggingLevel, PromptReference, ResourceTemplateReference

from tests.scaffold.helpers import generate, imported_server, run_generated_tests


async def _exercise(server: Any) -> dict[str, Any]:
    steps: list[tuple[float, float | None, str | None]] = []
    logs: list[tuple[str, str]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append((progress, total, message))

    async def on_log(params: Any) -> None:
        logs.append((params.level, str(params.data)))

    async with Client(server, logging_callback=on_log, log_level="debug") as client:
        counted = await client.call_tool("slow_count", {"steps": 3}, progress_callback=on_progress)
        swatch = await client.call_tool("color_swatch", {"color": "blue"})
        style = await client.complete(
            PromptReference(name="summarize"), {"name": "style", "value": "ONE"}
        )
        name = await client.complete(
            ResourceTemplateReference(uri="demo-server://greeting/{name}"),
            {"name": "name", "value": "g"},
        )
        caps = client.server_capabilities
    return {
        "counted": counted,
        "steps": steps,
        "logs": logs,
        "swatch": swatch,
        "style": style.completion.values,
        "name": name.completion.values,
        "caps": caps,
    }


def test_the_extras_work_with_a_real_client(tmp_path: Path) -> None:
    plan = generate(tmp_path)
    with imported_server(plan.project_dir, "demo_server") as module:
        got = asyncio.run(_exercise(module.create_server()))
        png = module.swatch_png((1, 2, 3), size=4)
    assert got["counted"].content[0].text == "counted to 3"
    assert got["steps"] == [(1, 3, "step 1 of 3"), (2, 3, "step 2 of 3"), (3, 3, "step 3 of 3")]
    assert ("info", "counting to 3") in got["logs"] and ("debug", "step 2 done") in got["logs"]
    text, image = got["swatch"].content
    assert "blue" in text.text and image.mime_type == "image/png"
    assert got["style"] == ["one sentence", "one paragraph"]
    assert got["name"] == ["Grace"]
    assert got["caps"] is not None and got["caps"].completions is not None
    assert got["caps"].logging is not None  # logging/setLevel is served
    # The PNG is a real one: signature, IHDR of 4x4 8-bit RGB.
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert png[16:24] == (4).to_bytes(4, "big") * 2


async def _levels_after_set_level(server: Any, level: LoggingLevel) -> list[str]:
    levels: list[str] = []

    async def on_log(params: Any) -> None:
        levels.append(params.level)

    # logging/setLevel belongs to protocol versions up to 2025-11-25 ("legacy").
    async with Client(server, logging_callback=on_log, mode="legacy") as client:
        assert client.server_capabilities.logging is not None
        await client.set_logging_level(level)
        await client.call_tool("slow_count", {"steps": 2})
    return levels


def test_log_messages_follow_the_level_the_client_set(tmp_path: Path) -> None:
    plan = generate(tmp_path)
    with imported_server(plan.project_dir, "demo_server") as module:
        info = asyncio.run(_levels_after_set_level(module.create_server(), "info"))
        debug = asyncio.run(_levels_after_set_level(module.create_server(), "debug"))
        error = asyncio.run(_levels_after_set_level(module.create_server(), "error"))
    assert info == ["info"]
    assert debug == ["info", "debug", "debug"]
    assert error == []


def test_no_extras_leaves_them_out(tmp_path: Path) -> None:
    plan = generate(tmp_path, extras=False)
    server = (plan.project_dir / "src/demo_server/server.py").read_text()
    for absent in (
        "slow_count",
        "color_swatch",
        "@server.completion",
        "report_progress",
        "logging/setLevel",
    ):
        assert absent not in server
    readme = (plan.project_dir / "README.md").read_text()
    assert "slow_count" not in readme and "completions" not in readme


@pytest.mark.parametrize(
    "overrides",
    [
        {"prompts": False},
        {"resources": False, "tools": []},
        {"resources": False, "prompts": False},
    ],
    ids=["no-prompts", "no-resources-no-tools", "extras-only-tools"],
)
def test_every_mix_is_lint_clean_and_its_tests_pass(
    tmp_path: Path, overrides: dict[str, Any]
) -> None:
    plan = generate(tmp_path, transport="stdio", **overrides)
    project = plan.project_dir
    server = (project / "src/demo_server/server.py").read_text()
    assert ("@server.completion" in server) == bool(
        overrides.get("prompts", True) or overrides.get("resources", True)
    )
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        for args in (["check", "."], ["format", "--check", "."]):
            proc = subprocess.run(
                [str(ruff), *args], cwd=project, capture_output=True, text=True, timeout=60
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_generated_tests(project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in proc.stdout.lower(), proc.stdout
