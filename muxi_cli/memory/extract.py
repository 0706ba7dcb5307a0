"""Long-term memory writes: extraction of durable facts and deduplicated storage.

Storing a memory (:func:`remember`):

- an exact duplicate (same normalised text for the same user, by content hash)
  is not stored again; the existing row is refreshed instead;
- a near duplicate (cosine similarity >= ``SUPERSEDE_SIMILARITY``), or a memory
  the model says the new fact replaces, is *superseded*: the new row is added
  and the old one keeps a link to it in ``superseded_by`` (nothing is silently
  lost; superseded rows stay in ``list --all``, ``show`` and exports);
- with a ``judge``, the user's current facts of the same kind and person in the
  band ``JUDGE_SIMILARITY`` .. ``SUPERSEDE_SIMILARITY`` (related, not the same), or
  about the same slot (:mod:`muxi_cli.memory.changes`) and less similar, are shown
  to it, and those it says the new fact updates or contradicts are superseded too
  (:mod:`muxi_cli.memory.supersede`): "User moved to Lisbon" replaces "User lives
  in Berlin", while "User likes ramen" leaves "User likes sushi" alone. "The same
  person" includes the user's own sentence about a relation ("User reports to
  Rita" / "User's manager is Duarte");
- without a judge (``muxi memory add``, ``supersede_check: false``), only a clear change links: the
  same subject and slot, a change cue in the new text, similar enough
  (:func:`muxi_cli.memory.changes.clear_update`).

Every new row is annotated (:func:`muxi_cli.memory.facts.annotate`): subject,
dates, questions and the questions' vector, embedded in the same call as the text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from muxi_cli.llm.base import Message
from muxi_cli.memory import changes, facts
from muxi_cli.memory.embeddings import Embedder
from muxi_cli.memory.llmcall import parse_json_object, render_messages
from muxi_cli.memory.scoring import SUPERSEDE_SIMILARITY, content_hash
from muxi_cli.stores.lance_records import MemoryRecords, Row, new_id
from muxi_cli.stores.lance_store import now

log = logging.getLogger(__name__)

Action = Literal["added", "duplicate", "superseded"]

#: ``judge(new fact text, candidate rows) -> ids of the candidates the fact updates
#: or contradicts``; a judge that fails or talks nonsense supersedes nothing.
Judge = Callable[[str, list[Row]], Awaitable[list[str]]]

#: The lower end of the band a judge looks at, measured with the local MiniLM. Pairs:
#: "User lives in Berlin." / "User moved to Lisbon in March 2026." 0.49, "User works at
#: Acme as a designer." / "User started a new job at Globex in 2026." 0.48, "User is
#: vegetarian." / "User went back to eating meat in 2025." 0.61; unrelated facts of one
#: user sit lower ("User likes sushi." / "User is allergic to peanuts." 0.39). Related
#: facts that both hold sit inside too ("User likes sushi." / "User likes ramen." 0.56):
#: similarity cannot tell them apart, the judge does. On the dev set's 26 supersession
#: pairs (``python -m benchmarks.memory_write_cost --band``) 0.40 lets the judge see 19
#: (0.45: 16, 0.35: still 19) at a call for 66% of new facts (0.45: 55%, 0.35: 80%).
JUDGE_SIMILARITY = 0.40
#: The most candidates one judge call sees (the closest ones).
JUDGE_CANDIDATES = 4
#: Nearest neighbours looked at for supersession.
NEIGHBOURS = 8

_FACT_RULES = (
    "You extract durable facts about the USER from a conversation, for a long-term memory. "
    "Keep only what stays true and helps later conversations: identity, preferences, "
    "circumstances, goals, relationships, recurring needs, important dates. Skip small talk, "
    "one-off requests, facts about the assistant, and anything already known unless it "
    "changed. Write each fact as a short third-person sentence starting with 'User' "
    '("User\'s sister Ana lives in Rome"), with absolute dates, not relative ones. '
    '"subject" is whose fact it is: "user", or the relation it is about: spouse, partner, '
    "child, parent, sibling, grandparent, relative, manager, colleague, friend, pet, other. "
    '"since" is the date the fact started to hold (YYYY-MM-DD, YYYY-MM or YYYY), only when '
    "the conversation says. "
)
_QUESTIONS_RULE = (
    '"questions" are 2-3 short questions the fact answers, worded as someone would ask them '
    "without knowing the answer (no words copied from the fact where others fit). "
)
_ANSWER = (
    'Answer with JSON only: {{"facts": [{{"text": "...", "subject": "user or a relation", '
    '"since": "<date, or null>", "importance": 0.0-1.0, {questions}"replaces": ["<id of a '
    'known memory this fact updates or contradicts>"]}}]}}. Answer {{"facts": []}} when there '
    "is nothing durable."
)
#: The extraction instructions, without and with questions.
EXTRACT_SYSTEM = _FACT_RULES + _ANSWER.format(questions="")
EXTRACT_SYSTEM_QUESTIONS = (
    _FACT_RULES + _QUESTIONS_RULE + _ANSWER.format(questions='"questions": ["...", "..."], ')
)


def extraction_system(questions: bool) -> str:
    return EXTRACT_SYSTEM_QUESTIONS if questions else EXTRACT_SYSTEM


def questions_enabled(setting: str, providers: Any, ref: str) -> bool:
    """``memory.questions``: ``on``, ``off``, or ``auto`` (on unless model ``ref`` runs on a
    local server, where every answer token costs this machine's time)."""
    if setting != "auto":
        return setting == "on"
    provider = ref.split("/", 1)[0]
    is_local = getattr(providers, "is_local", None)  # the provider registry knows
    if callable(is_local):
        return not is_local(provider)
    from muxi_cli.providers import table  # deferred: only without a registry

    spec = table.lookup(provider)
    return not (spec is not None and spec.local)


MAX_FACTS_PER_TURN = 20
MAX_FACT_CHARS = 500


@dataclass(slots=True)
class Stored:
    row: Row
    action: Action
    superseded: list[str]
    #: The ids among ``superseded`` that a judge chose.
    judged: list[str] = field(default_factory=list)


def _in_band(hit: Row, text: str) -> bool:
    """Related enough for the judge: above :data:`JUDGE_SIMILARITY`, or about the same
    slot ("User banks with N26." / "User's main account moved to Caixa.", 0.27)."""
    similarity = float(hit["_similarity"])
    if similarity >= JUDGE_SIMILARITY:
        return True
    old = str(hit.get("text") or "")
    return similarity >= changes.SLOT_SIMILARITY and bool(changes.shared_slots(old, text))


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
    subject: str | None = None,
    valid_from: float | None = None,
    said_at: float | None = None,
    questions: list[str] | None = None,
    judge: Judge | None = None,
) -> Stored:
    """Store one memory for ``user_id`` with dedup and supersede (see module doc).

    ``subject`` (else inferred from the text), ``valid_from`` (when the fact started
    to hold), ``said_at`` (when it was said: the row's ``created_at``, default now)
    and ``questions`` annotate the row; ``judge`` decides about related facts when
    neither ``replaces`` nor a near duplicate already says what the fact replaces.
    """
    text = " ".join(text.split())
    digest = content_hash(text)
    existing = await records.by_hash(user_id, digest)
    if existing is not None and existing.get("superseded_by") is None:
        stamp = now()
        bumped = max(float(existing.get("importance") or 0.0), float(importance))
        await records.update(user_id, existing["id"], updated_at=stamp, importance=bumped)
        existing.update(updated_at=stamp, importance=bumped)
        # Said again, but as what replaces others (`--replaces`, the extractor's
        # `replaces`): those still stop being current, replaced by the stored fact.
        named = await _explicit(records, user_id, kind, replaces or [])
        named.pop(existing["id"], None)
        for old in named.values():
            values: dict[str, Any] = {"superseded_by": existing["id"], "updated_at": stamp}
            if old.get("valid_until") is None:
                values["valid_until"] = float(stamp)
            await records.update(user_id, old["id"], **values)
        return Stored(existing, "duplicate", list(named))
    asked = facts.clean_questions(questions or [])
    # One embedding call: the fact, and its questions when it has some.
    vectors = await embedder.embed([text, "\n".join(asked)] if asked else [text])
    vector = vectors[0]
    row: Row = {
        "id": new_id(),
        "user_id": user_id,
        "kind": kind,
        "text": text,
        "content_hash": digest,
        "vector": vector.tolist(),
        "qvector": vectors[1].tolist() if asked else None,
        "questions": asked,
        "subject": subject,
        "valid_from": valid_from,
        "agent": agent,
        "source": source,
    }
    facts.annotate(row, said_at=said_at)
    to_supersede = await _explicit(records, user_id, kind, replaces or [])
    neighbours = await records.nearest(user_id, vector, kind=kind, limit=NEIGHBOURS)
    # Near duplicates: the same fact said again, not a change (it did not stop holding).
    restated: set[str] = set()
    for hit in neighbours:
        if hit["_similarity"] >= SUPERSEDE_SIMILARITY and hit["id"] not in to_supersede:
            to_supersede[hit["id"]] = hit
            restated.add(hit["id"])
            if row.get("valid_from") is None and hit.get("valid_from") is not None:
                row["valid_from"] = hit["valid_from"]
    judged: list[str] = []
    # A fact that names what it replaces (and the names hold) needs no second opinion.
    if not to_supersede and judge is None:
        # No model: only a clear change (same slot, a change cue) links.
        for hit in neighbours:
            if hit["_similarity"] < SUPERSEDE_SIMILARITY and changes.clear_update(
                str(hit.get("text") or ""),
                facts.subject_for(hit),
                text,
                row["subject"],
                float(hit["_similarity"]),
            ):
                to_supersede[hit["id"]] = hit
    elif judge is not None and not to_supersede:
        # One subject, or the user's own sentence about that relation ("User reports
        # to Rita" vs "User's manager is Duarte", "... with the parents").
        band = [
            h
            for h in neighbours
            if h["_similarity"] < SUPERSEDE_SIMILARITY
            and h["id"] not in to_supersede
            and _in_band(h, text)
            and changes.same_person(
                facts.subject_for(h), str(h.get("text") or ""), row["subject"], text
            )
        ][:JUDGE_CANDIDATES]
        if band:  # no candidate, no model call
            judged = await _judged(judge, text, band)
            for hit in band:
                if hit["id"] in judged:
                    to_supersede[hit["id"]] = hit
    olds = to_supersede.values()
    row["importance"] = float(max([importance, *(float(o.get("importance") or 0) for o in olds)]))
    row["use_count"] = int(sum(int(o.get("use_count") or 0) for o in olds))
    await records.add([row])
    # The old fact held until the new one took over (its start, else when it was said).
    ended = row.get("valid_from") or row.get("created_at") or now()
    for old in olds:
        values = {"superseded_by": row["id"], "updated_at": now()}
        if old.get("valid_until") is None and old["id"] not in restated:
            values["valid_until"] = float(ended)
        await records.update(user_id, old["id"], **values)
    return Stored(row, "superseded" if to_supersede else "added", list(to_supersede), judged)


async def _explicit(
    records: MemoryRecords, user_id: str, kind: str, replaces: list[str]
) -> dict[str, Row]:
    """The current memories of ``user_id`` that ``replaces`` names (others are ignored)."""
    found: dict[str, Row] = {}
    for old_id in replaces:
        try:
            old = await records.get(user_id, str(old_id))  # scoped: another user's id is not found
        except Exception:
            continue
        if old.get("superseded_by") is None and old.get("kind") == kind:
            found[old["id"]] = old
    return found


async def _judged(judge: Judge, text: str, band: list[Row]) -> list[str]:
    """The ids of ``band`` the judge names; nothing when it fails."""
    try:
        answer = await judge(text, band)
    except Exception as exc:
        log.warning("memory: the supersession check failed (%s); nothing superseded", exc)
        return []
    ids = {h["id"] for h in band}
    if not isinstance(answer, list):
        return []
    return [i for i in answer if isinstance(i, str) and i in ids]


def extraction_prompt(messages: list[Message], known: list[Row], today: str = "") -> str:
    """The extraction request; ``today`` (an ISO date) lets the model date "last month"."""
    parts = [f"Today is {today}."] if today else []
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
    found: list[dict[str, Any]] = []
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
        if importance != importance:  # NaN
            importance = 0.5
        replaces = item.get("replaces") or []
        if not isinstance(replaces, list):
            replaces = [replaces]
        # The fields added with schema version 2 are optional: garbage in one of them
        # drops that field, never the fact.
        found.append(
            {
                "text": text.strip()[:MAX_FACT_CHARS],
                "importance": min(1.0, max(0.0, importance)),
                "replaces": [str(r) for r in replaces if isinstance(r, str | int)],
                "subject": facts.valid_subject(item.get("subject")),
                "since": facts.parse_since(item.get("since")),
                "questions": facts.clean_questions(item.get("questions")),
            }
        )
    return found
