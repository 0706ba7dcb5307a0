"""Long-term memory writes: extraction of durable facts and deduplicated storage.

Storing a memory (:func:`remember`):

- an exact duplicate (same normalised text for the same user, by content hash)
  is not stored again; the existing row is refreshed instead;
- a near duplicate (cosine similarity >= ``SUPERSEDE_SIMILARITY``), or a memory
  the model says the new fact replaces, is *superseded*: the new row is added
  and the old one keeps a link to it in ``superseded_by`` (nothing is silently
  lost; superseded rows leave recall but stay in ``list --all`` and exports).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from muxi_cli.llm.base import Message
from muxi_cli.memory.embeddings import Embedder
from muxi_cli.memory.llmcall import parse_json_object, render_messages
from muxi_cli.memory.scoring import SUPERSEDE_SIMILARITY, content_hash
from muxi_cli.stores.lance_records import MemoryRecords, Row, new_id
from muxi_cli.stores.lance_store import now

log = logging.getLogger(__name__)

Action = Literal["added", "duplicate", "superseded"]

EXTRACT_SYSTEM = (
    "You extract durable facts about the USER from a conversation, for a long-term memory. "
    "Keep only what stays true and helps later conversations: identity, preferences, "
    "circumstances, goals, relationships, recurring needs. Skip small talk, one-off requests, "
    "facts about the assistant, and anything already known unless it changed. Write each fact "
    "as a short third-person sentence starting with 'User'. "
    'Answer with JSON only: {"facts": [{"text": "...", "importance": 0.0-1.0, '
    '"replaces": ["<id of a known memory this fact updates or contradicts>"]}]}. '
    'Answer {"facts": []} when there is nothing durable.'
)

MAX_FACTS_PER_TURN = 20
MAX_FACT_CHARS = 500


@dataclass(slots=True)
class Stored:
    row: Row
    action: Action
    superseded: list[str]


async def remember(
    records: MemoryRecords,
    embedder: Embedder,
    user_id: str,
    text: str,
    *,
    kind: str = "fact",
    importance: float = 0.5,
    agent: str | None = None,
    source: str | None = None,
    replaces: list[str] | None = None,
) -> Stored:
    """Store one memory for ``user_id`` with dedup and supersede (see module doc)."""
    text = " ".join(text.split())
    digest = content_hash(text)
    existing = await records.by_hash(user_id, digest)
    if existing is not None and existing.get("superseded_by") is None:
        stamp = now()
        bumped = max(float(existing.get("importance") or 0.0), float(importance))
        await records.update(user_id, existing["id"], updated_at=stamp, importance=bumped)
        existing.update(updated_at=stamp, importance=bumped)
        return Stored(existing, "duplicate", [])
    vector = (await embedder.embed([text]))[0]
    to_supersede: dict[str, Row] = {}
    for old_id in replaces or []:
        try:
            old = await records.get(user_id, str(old_id))  # scoped: another user's id is not found
        except Exception:
            continue
        if old.get("superseded_by") is None and old.get("kind") == kind:
            to_supersede[old["id"]] = old
    for hit in await records.search(user_id, vector, text, kind=kind, shared=False, limit=5):
        if (hit.get("_similarity") or 0.0) >= SUPERSEDE_SIMILARITY:
            to_supersede.setdefault(hit["id"], hit)
    row: Row = {
        "id": new_id(),
        "user_id": user_id,
        "kind": kind,
        "text": text,
        "content_hash": digest,
        "vector": vector.tolist(),
        "importance": float(
            max([importance, *(float(o.get("importance") or 0) for o in to_supersede.values())])
        ),
        "use_count": int(sum(int(o.get("use_count") or 0) for o in to_supersede.values())),
        "agent": agent,
        "source": source,
    }
    await records.add([row])
    for old_id in to_supersede:
        await records.update(user_id, old_id, superseded_by=row["id"], updated_at=now())
    return Stored(row, "superseded" if to_supersede else "added", list(to_supersede))


def extraction_prompt(messages: list[Message], known: list[Row]) -> str:
    parts = []
    if known:
        lines = "\n".join(f"- [{r['id']}] {r['text']}" for r in known)
        parts.append(f"Known memories about this user (ids in brackets):\n{lines}")
    parts.append(f"Conversation:\n{render_messages(messages)}")
    parts.append("Extract the durable facts about the user as JSON.")
    return "\n\n".join(parts)


#: Models whose extraction answer was not JSON, warned about once per process.
_WARNED_NOT_JSON: set[str] = set()


class ExtractionAnswerError(ValueError):
    """The model's extraction answer held no JSON object (nothing was stored)."""


def parse_facts(answer: str, model: str = "") -> list[dict[str, Any]]:
    """The facts of an extraction answer; malformed entries are skipped.

    An answer with no JSON at all is warned about once per model and process (with
    the start of what the model said), then only logged at debug level: a model that
    cannot do extraction would otherwise repeat the same warning after every turn.
    """
    data = parse_json_object(answer)
    if data is None:
        excerpt = " ".join(answer.split())[:160] or "(empty)"
        level = logging.DEBUG if model in _WARNED_NOT_JSON else logging.WARNING
        _WARNED_NOT_JSON.add(model)
        log.log(
            level,
            "memory extraction: %s did not answer with JSON (it said: %s); nothing was "
            "remembered from this conversation. Set memory.extraction_model to a model "
            "that follows instructions.",
            model or "the model",
            excerpt,
        )
        return []
    raw = data.get("facts", data.get("memories", []))
    if not isinstance(raw, list):
        return []
    facts: list[dict[str, Any]] = []
    for item in raw[:MAX_FACTS_PER_TURN]:
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict):
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        try:
            importance = float(item.get("importance", 0.5))
        except (TypeError, ValueError):
            importance = 0.5
        replaces = item.get("replaces") or []
        if isinstance(replaces, str):
            replaces = [replaces]
        facts.append(
            {
                "text": text.strip()[:MAX_FACT_CHARS],
                "importance": min(1.0, max(0.0, importance)),
                "replaces": [str(r) for r in replaces if isinstance(r, str | int)],
            }
        )
    return facts
