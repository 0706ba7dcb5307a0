"""Build a LocalRuntime from parts, with the real provider registry and session
store over the fake LLM server, and a scripted tool host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.config.schema import AgentConfig, Formation
from muxi_cli.protocol.events import Event
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.protocol.turn import Turn
from muxi_cli.tools.base import ServerStatus, ToolDef, ToolOutcome
from tests.fakellm import FakeLLM


class ScriptedTools:
    """A ToolHost whose tools are plain Python callables (for loop tests)."""

    def __init__(self) -> None:
        self.defs: dict[str, ToolDef] = {}
        self.funcs: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.remembered: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def add(
        self,
        name: str,
        func: Callable[[dict[str, Any]], Any],
        policy: str = "allow",
        server: str = "test",
    ) -> None:
        self.defs[name] = ToolDef(
            name=name,
            server=server,
            tool=name,
            description=f"the {name} tool",
            input_schema={"type": "object", "properties": {}},
            policy=policy,  # type: ignore[arg-type]
        )
        self.funcs[name] = func

    async def tools_for(self, agent: AgentConfig) -> list[ToolDef]:
        return list(self.defs.values())

    async def call(self, tool: ToolDef, arguments: dict[str, Any]) -> ToolOutcome:
        self.calls.append((tool.name, arguments))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            result = self.funcs[tool.name](arguments)
            if asyncio.iscoroutine(result):
                result = await result
            return ToolOutcome(True, str(result))
        except Exception as exc:
            return ToolOutcome(False, f"{type(exc).__name__}: {exc}")
        finally:
            self.in_flight -= 1

    async def all_tools(self) -> list[ToolDef]:
        return list(self.defs.values())

    async def wait_ready(self, timeout: float | None = None, servers: Any = None) -> None:
        return None

    async def attach(self, name: str, config: Any) -> None:
        return None

    async def detach(self, name: str) -> None:
        return None

    async def restart(self, name: str) -> None:
        return None

    def statuses(self) -> list[ServerStatus]:
        return []

    def remember_allow(self, tool: ToolDef) -> None:
        self.remembered.append(tool.name)

    async def aclose(self) -> None:
        return None


@pytest.fixture
def tools() -> ScriptedTools:
    return ScriptedTools()


@pytest.fixture
async def make_runtime(
    fake_llm: FakeLLM, tools: ScriptedTools, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """``await make_runtime(extra_yaml)`` -> LocalRuntime over the fake server."""
    from muxi_cli.config.loader import LoadedFormation
    from muxi_cli.core.router import RouteCache
    from muxi_cli.llm.registry import ProviderRegistry
    from muxi_cli.memory.base import NoMemory
    from muxi_cli.runtime.local import LocalRuntime
    from muxi_cli.stores.sessions import SessionStore

    made: list[LocalRuntime] = []

    def build(
        extra: str = "", *, memory: Any = None, cache_path: Path | None = None
    ) -> LocalRuntime:
        import yaml

        raw = yaml.safe_load(fake_llm.formation_yaml(extra=extra))
        formation = Formation.model_validate(raw)
        loaded = LoadedFormation(formation=formation, path=None, raw=raw)
        runtime = LocalRuntime(
            loaded,
            ProviderRegistry(formation),
            SessionStore(tmp_path / "sessions.db"),
            tools,
            memory or NoMemory(),
            RouteCache(formation.router.cache_ttl, formation.router.cache_size, cache_path),
            user_id="tester",
        )
        made.append(runtime)
        return runtime

    yield build
    for runtime in made:
        await runtime.aclose()


async def collect(
    turn: Turn | Awaitable[Turn], on: Callable[[Event], Any] | None = None
) -> list[Event]:
    """Every event of a turn (``runtime.chat(...)`` may be passed un-awaited)."""
    if not isinstance(turn, Turn):
        turn = await turn
    events = []
    async with turn:
        async for event in turn.events():
            events.append(event)
            if on is not None:
                result = on(event)
                if asyncio.iscoroutine(result):
                    await result
    return events


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def request(message: str, **kw: Any) -> ChatRequest:
    return ChatRequest(message=message, **kw)
