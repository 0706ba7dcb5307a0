from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from muxi_cli.errors import ConfigError
from muxi_cli.tools.python_tools import load_python_tool, parse_docstring
from tests.tools.support import ManagerFactory, by_name

MODULE = '''
import asyncio
import enum
from typing import Literal, Optional

from pydantic import BaseModel


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: float
    y: float


def greet(name: str, times: int = 1, shout: bool = False) -> str:
    """Greet someone.

    Longer explanation that is not part of the summary.

    Args:
        name: Who to greet.
        times: How many times
            (continued on the next line).
        shout: Upper-case the greeting.

    Returns:
        The greeting.
    """
    text = " ".join(["hello " + name] * times)
    return text.upper() if shout else text


async def slow_add(a: float, b: float) -> dict:
    """Add two numbers, asynchronously."""
    await asyncio.sleep(0)
    return {"sum": a + b}


def kinds(mode: Literal["fast", "slow"], color: Color, tags: list[str], extra: Optional[dict] = None, point: Optional[Point] = None) -> Point:
    """Exercise schema types.

    :param mode: How fast.
    :param color: Which color.
    """
    return Point(x=len(tags), y=1 if mode == "fast" else 2)


def boom(reason: str) -> str:
    """Always raises."""
    raise ValueError(f"bad input: {reason}")


def nothing() -> None:
    pass


def positional(a: int, /, b: int) -> int:
    return a - b
'''


@pytest.fixture
def module(tmp_path: Path) -> str:
    name = f"tools_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODULE))
    return name


def test_docstring_parsing() -> None:
    doc = parse_docstring(
        """Do a thing.

        Args:
            a (int): The a.
            *rest: More.
        """
    )
    assert doc.summary == "Do a thing."
    assert doc.params == {"a": "The a.", "rest": "More."}
    assert parse_docstring(None).summary == ""


def test_schema_from_hints_and_docstring(module: str, tmp_path: Path) -> None:
    tool = load_python_tool(f"{module}:greet", tmp_path)
    assert tool.name == "greet"
    assert tool.description == "Greet someone."
    props = tool.input_schema["properties"]
    assert props["name"] == {"type": "string", "description": "Who to greet."}
    assert props["times"]["type"] == "integer"
    assert props["times"]["default"] == 1
    assert props["times"]["description"] == "How many times (continued on the next line)."
    assert props["shout"]["type"] == "boolean"
    assert tool.input_schema["required"] == ["name"]
    assert tool.input_schema["type"] == "object"


def test_schema_of_richer_types(module: str, tmp_path: Path) -> None:
    tool = load_python_tool(f"{module}:kinds", tmp_path)
    schema = tool.input_schema
    props = schema["properties"]
    assert props["mode"]["enum"] == ["fast", "slow"]
    assert props["mode"]["description"] == "How fast."
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert "$defs" in schema  # the enum and the pydantic model
    assert sorted(schema["required"]) == ["color", "mode", "tags"]


async def test_sync_async_and_results(module: str, tmp_path: Path) -> None:
    greet = load_python_tool(f"{module}:greet", tmp_path)
    out = await greet.call({"name": "ada", "times": 2, "shout": True})
    assert out.ok and out.content == "HELLO ADA HELLO ADA"
    add = load_python_tool(f"{module}:slow_add", tmp_path)
    out = await add.call({"a": 1, "b": 2.5})
    assert out.ok and out.structured == {"sum": 3.5}
    kinds = load_python_tool(f"{module}:kinds", tmp_path)
    out = await kinds.call(
        {"mode": "slow", "color": "red", "tags": ["a", "b"], "point": {"x": 1, "y": 2}}
    )
    assert out.ok and out.structured == {"x": 2.0, "y": 2.0}
    none = load_python_tool(f"{module}:nothing", tmp_path)
    assert (await none.call({})).content == "(no output)"
    pos = load_python_tool(f"{module}:positional", tmp_path)
    assert (await pos.call({"a": 5, "b": 2})).content == "3"


async def test_exceptions_and_bad_arguments_become_tool_errors(module: str, tmp_path: Path) -> None:
    boom = load_python_tool(f"{module}:boom", tmp_path)
    out = await boom.call({"reason": "nope"})
    assert not out.ok and out.content == "ValueError: bad input: nope"
    greet = load_python_tool(f"{module}:greet", tmp_path)
    out = await greet.call({"times": "many"})
    assert not out.ok
    assert "name: Field required" in out.content
    assert "times:" in out.content
    out = await greet.call({"name": "x", "unknown": 1})
    assert not out.ok and "unknown" in out.content
    kinds = load_python_tool(f"{module}:kinds", tmp_path)
    out = await kinds.call({"mode": "medium", "color": "green", "tags": []})
    assert not out.ok and "mode" in out.content and "color" in out.content


def test_load_errors(module: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot import"):
        load_python_tool("no_such_module_xyz:f", tmp_path)
    with pytest.raises(ConfigError, match="no attribute"):
        load_python_tool(f"{module}:missing", tmp_path)
    with pytest.raises(ConfigError, match="not callable"):
        load_python_tool(f"{module}:Color.RED", tmp_path)


async def test_through_the_manager(
    module: str, tmp_path: Path, make_manager: ManagerFactory
) -> None:
    other = f"other_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{other}.py").write_text("def greet(x: str) -> str:\n    return 'other ' + x\n")
    manager = make_manager(
        {
            "agents": [
                {
                    "name": "a",
                    "tools": [
                        "calculator",
                        {"python": f"{module}:greet"},
                        {"python": f"{other}:greet", "approval": "deny"},
                        {"python": "missing_mod_abc:f"},
                    ],
                }
            ]
        },
        base_dir=tmp_path,
    )
    agent = manager.formation.agents[0]
    tools = by_name(await manager.tools_for(agent))
    assert set(tools) == {"calculator", "greet", "greet_2"}
    assert tools["greet"].server == "python" and tools["greet"].policy == "allow"
    assert tools["greet_2"].policy == "deny"
    assert (await manager.call(tools["greet"], {"name": "x"})).content == "hello x"
    assert (await manager.call(tools["greet_2"], {"x": "y"})).content == "other y"
    bad = await manager.call(tools["greet"], ["not", "a", "dict"])  # type: ignore[arg-type]
    assert not bad.ok and "JSON object" in bad.content
    failures = manager.take_new_failures()
    assert [f.name for f in failures] == ["python:missing_mod_abc:f"]
    assert "cannot import" in (failures[0].error or "")
    await manager.tools_for(agent)
    assert manager.take_new_failures() == []
