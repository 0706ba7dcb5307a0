"""A formation adjusted to the parts of muxi that are installed.

``pip install 'muxi-cli[local]'`` runs agents without the memory part
(LanceDB and the embedding model, some 450 MB). Such agents keep their
conversation window (summaries need only the model) and go without long-term
memory: no recall, no extraction, no ``memory_search`` tool. A formation that
asks for what cannot work without the part (knowledge files) is refused with
the extra to install, as any command that needs a missing part is.
"""

from __future__ import annotations

from dataclasses import replace

from muxi_cli import parts
from muxi_cli.config.loader import LoadedFormation


def without_missing_parts(loaded: LoadedFormation) -> LoadedFormation:
    """``loaded`` as it can run with the parts installed here."""
    if parts.has("memory"):
        return loaded
    formation = loaded.formation
    for agent in formation.agents:
        if agent.knowledge:
            raise parts.missing(
                parts.part("memory"), f"the knowledge files of agent {agent.name!r}"
            )
    agents = [
        agent.model_copy(
            update={
                "memory": agent.memory.model_copy(update={"long_term": False, "search_tool": "off"})
            }
        )
        for agent in formation.agents
    ]
    return replace(loaded, formation=formation.model_copy(update={"agents": agents}))
