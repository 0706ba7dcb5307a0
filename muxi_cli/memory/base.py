"""What the agent loop needs from the memory layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from muxi_cli.config.schema import AgentConfig
from muxi_cli.llm.base import Message


@dataclass(frozen=True, slots=True)
class Recalled:
    """One recalled memory or knowledge chunk, as shown in ``memory.recalled``."""

    id: str
    kind: str
    text: str
    score: float
    source: str | None = None

    def to_event_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self.id, "kind": self.kind, "text": self.text, "score": round(self.score, 4)}
        if self.source:
            item["source"] = self.source
        return item


@dataclass(frozen=True, slots=True)
class Context:
    """The conversation window given to the model for one turn."""

    messages: list[Message]
    summary: str | None = None


class MemoryHooks(Protocol):
    async def recall(self, user_id: str, agent: AgentConfig, query: str) -> list[Recalled]: ...

    async def window(
        self, session_id: str, agent: AgentConfig, history: list[Message]
    ) -> Context:
        """Fit ``history`` (oldest first) into the agent's buffer budget."""
        ...

    async def after_turn(
        self, user_id: str, agent: AgentConfig, session_id: str, history: list[Message]
    ) -> None:
        """Runs after a completed turn (long-term extraction)."""
        ...

    async def aclose(self) -> None: ...


class NoMemory:
    """Memory switched off: whole history, no recall, no extraction."""

    async def recall(self, user_id: str, agent: AgentConfig, query: str) -> list[Recalled]:
        return []

    async def window(self, session_id: str, agent: AgentConfig, history: list[Message]) -> Context:
        return Context(list(history))

    async def after_turn(
        self, user_id: str, agent: AgentConfig, session_id: str, history: list[Message]
    ) -> None:
        return None

    async def aclose(self) -> None:
        return None
