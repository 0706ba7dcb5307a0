"""Long-term extraction after a turn: which messages are new, and storing their facts.

Every ``extract_every`` new messages of a session the extraction model is asked for
durable facts (:mod:`muxi_cli.memory.extract` holds the prompt, the parsing and
:func:`~muxi_cli.memory.extract.remember`); the session's progress is kept in the
catalog so a fact is extracted once.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from muxi_cli.config.schema import AgentConfig
from muxi_cli.llm.base import Message
from muxi_cli.memory import llmcall
from muxi_cli.memory.extract import (
    Stored,
    extraction_prompt,
    extraction_system,
    parse_facts,
    questions_enabled,
    remember,
)
from muxi_cli.memory.items import iso
from muxi_cli.stores.lance_records import Row

if TYPE_CHECKING:
    from muxi_cli.memory.service import MemoryService


async def after_turn(
    svc: MemoryService, user_id: str, agent: AgentConfig, session_id: str, history: list[Message]
) -> None:
    if not (agent.memory.enabled and agent.memory.long_term) or svc.providers is None:
        return
    if not await svc.long_term_enabled(user_id):
        return
    states = await svc.states()
    state: Row = await states.get(session_id) or {}
    upto = int(state.get("extracted_upto") or 0)
    if upto > len(history):
        upto = 0
    if len(history) - upto < max(1, agent.memory.extract_every):
        if state.get("user_id") != user_id:
            # Remember whose session this is, so `forget --all` can drop its summary.
            await states.put(session_id, user_id=user_id, agent=agent.name)
        return
    await extract(svc, user_id, agent, history[upto:])
    await states.put(session_id, user_id=user_id, agent=agent.name, extracted_upto=len(history))


async def extract(
    svc: MemoryService, user_id: str, agent: AgentConfig, messages: list[Message]
) -> list[Stored]:
    """Ask the model for durable facts in ``messages`` and store them."""
    if svc.providers is None:
        return []
    transcript = llmcall.render_messages(messages)
    if not transcript.strip():
        return []
    known: builtins.list[Row] = []
    snapshot = await svc.known()
    if snapshot is None or snapshot.memory_count(user_id, ("fact",)):
        # Only a user with facts has facts the new ones may repeat or update.
        vector = await svc.embed_query(transcript[-2000:])
        known = await (await svc.records()).search(
            user_id, vector, transcript[-2000:], kind="fact", shared=False, limit=10
        )
    config = svc.formation.memory
    ref = llmcall.model_ref(svc.providers, agent, config.extraction_model)
    ask_questions = questions_enabled(config.questions, svc.providers, ref)
    today = iso(svc.clock())[:10]
    answer = await llmcall.ask(
        svc.providers,
        ref,
        extraction_system(ask_questions),
        extraction_prompt(messages, known, today),
        max_tokens=1536 if ask_questions else 1024,  # questions: ~30 tokens a fact
    )
    found = parse_facts(answer, ref)
    if not found:
        return []  # the store and the embedding model stay closed
    judge = None
    if config.supersede_check:
        from muxi_cli.memory.supersede import model_judge  # deferred: only with facts

        judge = model_judge(svc.providers, ref)
    records = await svc.records()
    stored = []
    for fact in found:
        done = await remember(
            records,
            svc.embedder,
            user_id,
            fact["text"],
            kind="fact",
            importance=fact["importance"],
            agent=agent.name,
            source="extraction",
            replaces=fact["replaces"],
            subject=fact["subject"],
            valid_from=fact["since"],
            questions=fact["questions"] if ask_questions else None,
            judge=judge,  # not asked when the extractor's links hold
        )
        stored.append(done)
    return stored
