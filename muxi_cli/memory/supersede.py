"""The write-time supersession check: one cheap model call per new fact, at most.

:func:`muxi_cli.memory.extract.remember` finds the user's current facts about the
same subject that are related to a new one but not the same (cosine similarity in
a band below ``SUPERSEDE_SIMILARITY``); :func:`model_judge` asks a model which of
them the new fact updates or contradicts ("User moved to Lisbon" vs "User lives in
Berlin": yes; "User likes ramen" vs "User likes sushi": no).

The candidates are numbered (short, and the model cannot invent an id); the answer
is ``{"replaces": [numbers]}`` in a few tokens. Anything else (no JSON, numbers out
of range, a failed call) supersedes nothing: a missed update leaves two facts
current, a wrong one would hide a true fact.

Cost per call (``python -m benchmarks.memory_write_cost``, counted with muxi's
four-characters-a-token estimate and with the MiniLM WordPiece tokenizer): about
150-160 prompt tokens with one candidate, 8-12 more per further candidate (at most
:data:`~muxi_cli.memory.extract.JUDGE_CANDIDATES`), and an answer of 5-9 tokens
(``max_tokens`` is :data:`MAX_TOKENS`). No call is made when no candidate exists.
"""

from __future__ import annotations

import logging
from typing import Any

from muxi_cli.llm.base import ModelResolver
from muxi_cli.memory import llmcall
from muxi_cli.memory.extract import Judge

log = logging.getLogger(__name__)

Row = dict[str, Any]

JUDGE_SYSTEM = (
    "You keep a person's long-term memory current. A NEW fact about the user arrived. "
    "Which OLD facts does it update or contradict, so that they are no longer true now? "
    "Examples: a new city replaces the old city; a new job, manager or partner replaces the "
    "old one; giving something up replaces doing it. Facts that can both be true stay: two "
    "different likes, a second pet, a trip and a home. When unsure, replace nothing. "
    'Answer with JSON only: {"replaces": [numbers of the old facts]}, or {"replaces": []}.'
)
#: The answer is a short JSON list; room for a few numbers and nothing else.
MAX_TOKENS = 24
#: A stuck judge must not hold up the extraction that follows a turn for long.
TIMEOUT = 30.0


def judge_prompt(text: str, candidates: list[Row]) -> str:
    lines = "\n".join(f"{n}. {row['text']}" for n, row in enumerate(candidates, start=1))
    return f"NEW: {text}\nOLD:\n{lines}"


def parse_verdict(answer: str, candidates: list[Row]) -> list[str]:
    """The ids of the candidates the answer names (by number); nothing for garbage."""
    data = llmcall.parse_json_object(answer)
    if data is None:
        return []
    raw = data.get("replaces")
    if not isinstance(raw, list):
        return []
    ids: list[str] = []
    for item in raw:
        if isinstance(item, bool):
            continue
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if isinstance(item, int) and 1 <= item <= len(candidates):
            found = str(candidates[item - 1]["id"])
            if found not in ids:
                ids.append(found)
    return ids


def model_judge(providers: ModelResolver, ref: str) -> Judge:
    """A judge that asks model ``ref`` (``provider/model``) once per new fact."""

    async def judge(text: str, candidates: list[Row]) -> list[str]:
        if not candidates:
            return []
        answer = await llmcall.ask(
            providers,
            ref,
            JUDGE_SYSTEM,
            judge_prompt(text, candidates),
            max_tokens=MAX_TOKENS,
            timeout=TIMEOUT,
        )
        verdict = parse_verdict(answer, candidates)
        log.debug(
            "memory: %s judged %r against %d fact(s): %s", ref, text, len(candidates), verdict
        )
        return verdict

    return judge
