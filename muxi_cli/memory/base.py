"""What the agent loop needs from the memory layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from muxi_cli.config.schema import AgentConfig
from muxi_cli.errors import MemoryStoreError, NotFoundError
from muxi_cli.llm.base import Message
from muxi_cli.protocol.records import MemoryItem

#: A list of memory items (an alias: classes below have a method named ``list``).
MemoryItems = list[MemoryItem]


@dataclass(frozen=True, slots=True)
class Recalled:
    """One recalled memory or knowledge chunk, as shown in ``memory.recalled``."""

    id: str
    kind: str
    text: str
    score: float
    source: str | None = None

    def to_event_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "score": round(self.score, 4),
        }
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

    async def window(self, session_id: str, agent: AgentConfig, history: list[Message]) -> Context:
        """Fit ``history`` (oldest first) into the agent's buffer budget."""
        ...

    async def after_turn(
        self, user_id: str, agent: AgentConfig, session_id: str, history: list[Message]
    ) -> None:
        """Runs after a completed turn (long-term extraction)."""
        ...

    async def aclose(self) -> None: ...


class MemoryBackend(MemoryHooks, Protocol):
    """Memory hooks plus the management API behind ``Runtime.memory_*``."""

    async def list(
        self, user_id: str, kind: str | None = None, limit: int = 100, agent: str | None = None
    ) -> MemoryItems: ...

    async def search(
        self, query: str, user_id: str, kind: str | None = None, limit: int = 10
    ) -> MemoryItems: ...

    async def add(
        self,
        text: str,
        user_id: str,
        kind: str = "fact",
        importance: float = 0.5,
        agent: str | None = None,
        *,
        replaces: Sequence[str] | None = None,
    ) -> MemoryItem: ...

    async def get(self, memory_id: str, user_id: str) -> MemoryItem:
        """One of ``user_id``'s memories by id or unique id prefix (6+ characters)."""
        ...

    async def forget(self, memory_id: str, user_id: str) -> None: ...

    async def forget_session(self, session_id: str) -> None:
        """Drop what memory keeps about a deleted session (its running summary)."""
        ...


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

    async def list(
        self, user_id: str, kind: str | None = None, limit: int = 100, agent: str | None = None
    ) -> MemoryItems:
        return []

    async def search(
        self, query: str, user_id: str, kind: str | None = None, limit: int = 10
    ) -> MemoryItems:
        return []

    async def add(
        self,
        text: str,
        user_id: str,
        kind: str = "fact",
        importance: float = 0.5,
        agent: str | None = None,
        *,
        replaces: Sequence[str] | None = None,
    ) -> MemoryItem:

        raise MemoryStoreError("memory is switched off", hint="enable memory in muxi.yaml")

    async def get(self, memory_id: str, user_id: str) -> MemoryItem:

        raise NotFoundError(f"no memory {memory_id!r}", hint="muxi memory list")

    async def forget(self, memory_id: str, user_id: str) -> None:

        raise NotFoundError(f"no memory {memory_id!r}", hint="muxi memory list")

    async def forget_session(self, session_id: str) -> None:
        return None
