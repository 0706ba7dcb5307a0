"""``memory_search``: the agent searches the user's long-term memory itself, mid-turn.

The automatic recall before a turn searches with the user's message as it is; it
cannot see that a question about a restaurant needs the user's diet. This tool
lets the model ask with its own words, several queries per call, merged by
:func:`muxi_cli.memory.multi.search_many`. It reads only, always for the turn's
own user (no argument chooses whose memory: the engine passes ``spec.user_id``),
needs no approval, and is served by the agent engine itself (its ``kind`` is
``memory``), so its calls and results are ordinary ``tool.*`` events.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from muxi_cli.config.schema import AgentConfig
from muxi_cli.errors import MuxiError
from muxi_cli.memory.base import MemoryHooks, Recalled
from muxi_cli.memory.multi import MAX_LIMIT, MAX_QUERIES, search_many
from muxi_cli.tools.base import ToolDef, ToolOutcome

log = logging.getLogger("muxi.agent")

NAME = "memory_search"
DEFAULT_LIMIT = 8
#: A query longer than this is cut: the tool asks for short searches, and a pasted
#: page in each of five queries cost seconds of full-text and date parsing.
MAX_QUERY_CHARS = 500

#: The line the system prompt gains when the tool is offered.
SYSTEM_HINT = (
    f"You can search this user's long-term memory with the {NAME} tool (several short "
    "queries at once) for anything the memories given here do not cover."
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "queries": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": MAX_QUERIES,
            "description": (
                "1-5 short searches in your own words, each for one thing you need "
                "(e.g. 'diet', 'food allergies', 'favourite restaurants')."
            ),
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "description": f"How many memories to return at most (default {DEFAULT_LIMIT}).",
        },
    },
    "required": ["queries"],
}

TOOL = ToolDef(
    name=NAME,
    server="memory",
    tool=NAME,
    description=(
        "Search what you know about this user from earlier conversations (their "
        "long-term memory). Give several queries for different needs; the results "
        "are merged, best first, each with where it comes from."
    ),
    input_schema=SCHEMA,
    policy="allow",
    kind="memory",
)


async def offered(
    memory: MemoryHooks, agent: AgentConfig, user_id: str, provider: Any, depth: int
) -> bool:
    """Whether this turn offers the tool (``memory.search_tool``, see the module doc)."""
    settings = agent.memory
    if depth or not (settings.enabled and settings.long_term) or settings.search_tool == "off":
        return False
    if settings.search_tool == "on":
        return True
    capabilities = getattr(provider, "capabilities", None)  # test doubles may have none
    if capabilities is not None and not capabilities.tools:
        return False
    try:
        return await memory.has_memories(user_id)
    except MuxiError as exc:  # a broken store costs the tool, not the turn
        log.warning("memory search tool left out: %s", exc)
        return False


def parse(arguments: dict[str, Any]) -> tuple[list[str], int] | str:
    """``(queries, limit)`` from the model's arguments, or what is wrong with them."""
    raw = arguments.get("queries")
    if raw is None and isinstance(arguments.get("query"), str):
        raw = [arguments["query"]]  # a model that asks once, singular
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return "Give `queries`: a list of 1-5 short search strings."
    queries = [q.strip()[:MAX_QUERY_CHARS] for q in raw if isinstance(q, str) and q.strip()]
    if not queries:
        return "Each query must be a non-empty string."
    if len(queries) > MAX_QUERIES:
        return f"Give at most {MAX_QUERIES} queries at once."
    limit = arguments.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit):
        limit = DEFAULT_LIMIT  # JSON parsers take NaN and 1e999, which int() refuses
    return queries, max(1, min(int(limit), MAX_LIMIT))


async def run(
    memory: MemoryHooks, agent: AgentConfig, user_id: str, arguments: dict[str, Any]
) -> ToolOutcome:
    """One call: search for ``user_id`` (the turn's user, never an argument)."""
    parsed = parse(arguments)
    if isinstance(parsed, str):
        return ToolOutcome(False, parsed)
    queries, limit = parsed
    try:
        hits = await search_many(memory, user_id, agent, queries, limit)
    except MuxiError as exc:  # e.g. a store that needs `muxi memory reindex`
        return ToolOutcome(False, f"The memory search failed: {exc.message}")
    return ToolOutcome(True, render(hits), structured=[_item(h) for h in hits])


def render(hits: list[Recalled]) -> str:
    if not hits:
        return "No stored memory matches these queries."
    lines = [f"{len(hits)} memories, best first:"]
    for number, hit in enumerate(hits, 1):
        lines.append(f"{number}. {hit.text} (source: {_source(hit)})")
    return "\n".join(lines)


def _source(hit: Recalled) -> str:
    if hit.source:
        return hit.source
    return "your knowledge" if hit.kind == "knowledge" else "memory"


def _item(hit: Recalled) -> dict[str, Any]:
    return {**hit.to_event_item(), "source": _source(hit)}
