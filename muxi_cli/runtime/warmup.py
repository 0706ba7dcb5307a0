"""Warming a :class:`~muxi_cli.runtime.local.LocalRuntime` up before its first turn.

Opening a runtime loads the formation and the session store, but a turn loads
more on first use: the provider's key (keyring), its SDK and client (``openai``
alone takes ~0.5 s to import), and, when the user has memories, LanceDB (~1-2 s)
and the embedding model. The chat app asks for all of that right after its first
frame (``Runtime.prepare``), so the first message is answered at once.

It takes the paths a turn takes (resolving the model, building its client,
searching memory), so what it loads is what the turn would have loaded, once.
Whatever blocks runs in a thread: the app keeps drawing and taking keys.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from muxi_cli.config.schema import AgentConfig, Formation
    from muxi_cli.llm.registry import ProviderRegistry
    from muxi_cli.memory.base import MemoryBackend

log = logging.getLogger("muxi.runtime")

#: What the memory search of a warm-up looks for (its hits are not used).
PROBE_QUERY = "warm-up"


async def warm_up(
    formation: Formation, models: ProviderRegistry, memory: MemoryBackend, user_id: str
) -> None:
    """Load what a first turn with the default agent needs. Raises what that turn
    would raise when it resolves its model (no provider, an unknown one)."""
    # Key lookups (keyring) and, with no model configured, the Ollama probe block.
    providers = await asyncio.to_thread(_providers, formation, models)
    for provider, model in providers:
        prepare = getattr(provider, "prepare", None)  # SDK providers; test doubles may not
        if callable(prepare):
            await prepare(model)
    await _warm_memory(memory, user_id, formation.default)


def _providers(formation: Formation, models: ProviderRegistry) -> list[tuple[Any, str]]:
    """The providers (and model names) a first turn calls: the default agent's, and
    the router's when there is a choice of agents."""
    refs = [models.model_for(formation.default)]
    if len(formation.agents) > 1 and formation.router.model:
        refs.append(models.model_for(None, formation.router.model))
    out: list[tuple[Any, str]] = []
    for ref in dict.fromkeys(refs):
        provider, model = models.resolve(ref)
        out.append((provider, model))
    return out


async def _recall_reads_store(memory: MemoryBackend, user_id: str, agent: AgentConfig) -> bool:
    """Whether a recall would read the store, by the memory service's own cheap check
    (a catalog's counts, or whether a store exists). ``NoMemory`` has none; nor may a
    future service: then nothing is warmed, which is safe (tests/tui/test_warm_up.py
    notices)."""
    per_user = getattr(memory, "nothing_to_recall", None)
    if callable(per_user):
        return not await per_user(user_id, agent)
    nothing_stored = getattr(memory, "_nothing_stored", None)
    return callable(nothing_stored) and not nothing_stored()


async def _warm_memory(memory: MemoryBackend, user_id: str, agent: AgentConfig) -> None:
    """Open the store and load the embedding model, as the first recall would: only
    when there are memories (with none, recall loads neither)."""
    if not agent.memory.enabled or not await _recall_reads_store(memory, user_id, agent):
        return
    # The store imports LanceDB on the event loop when it opens: import it here first.
    await asyncio.to_thread(_import_lancedb)
    await memory.search(PROBE_QUERY, user_id, limit=1)
    log.debug("memory store and embedding model warmed up")


def _import_lancedb() -> None:
    """Import LanceDB the way the store does: through the stores' own door when
    there is one (it defers LanceDB's unused namespace client), else directly."""
    os.environ.setdefault("LANCEDB_LOG", "error")
    try:
        door = importlib.import_module("muxi_cli.stores.lance_import")
    except ImportError:
        importlib.import_module("lancedb")
    else:
        door.lancedb()
