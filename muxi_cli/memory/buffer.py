"""Buffer memory: fit a session's history into the agent's token budget.

Recent turns stay verbatim. When they no longer fit in ``buffer_tokens``, the
older ones are folded by the model into a running summary, which is stored per
session (``session_state``) together with how many messages it covers, so the
next turns reuse it instead of summarising again. Nothing is deleted from the
session record: the summary only changes what the model is shown.

To avoid a model call on every turn once a conversation is long, a fold keeps
only about half the budget verbatim; the window then grows again turn by turn
until the budget is reached.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable

from muxi_cli.llm.base import Message
from muxi_cli.memory.base import Context
from muxi_cli.memory.llmcall import render_messages

log = logging.getLogger(__name__)

#: Rough tokens per message on top of its text (role, separators).
MESSAGE_OVERHEAD = 4

SUMMARY_SYSTEM = (
    "You keep a running summary of a conversation between a user and an AI assistant. "
    "Merge the previous summary with the new messages into one concise summary written in the "
    "third person. Keep names, numbers, decisions, open questions and anything the user asked "
    "to remember; drop pleasantries. Answer with the summary text only."
)


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters per token)."""
    return (len(text) + 3) // 4


def message_tokens(message: Message) -> int:
    total = estimate_tokens(message.content) + MESSAGE_OVERHEAD
    for call in message.tool_calls:
        total += estimate_tokens(call.name) + estimate_tokens(str(call.arguments))
    return total


def prefix_hash(history: list[Message], upto: int) -> str:
    """A fingerprint of ``history[:upto]`` (a changed history invalidates the summary)."""
    h = hashlib.sha256()
    for message in history[:upto]:
        h.update(message.role.encode())
        h.update(b"\x00")
        h.update(message.content.encode("utf-8", "replace"))
        h.update(b"\x01")
    return h.hexdigest()


def choose_cut(history: list[Message], start: int, budget: int) -> int:
    """The index from which messages are kept verbatim, so they fit in ``budget``.

    The kept part starts at a user message where possible (a tool result never
    starts a window without the call that asked for it) and always holds at
    least the last message.
    """
    last = len(history) - 1
    cut = len(history)
    used = 0
    while cut > start:
        cost = message_tokens(history[cut - 1])
        if used + cost > budget and cut <= last:
            break
        used += cost
        cut -= 1
    cut = min(max(cut, start), last)
    # Move forward to the next user message, else back to the previous one.
    forward = next((i for i in range(cut, last + 1) if history[i].role == "user"), None)
    if forward is not None:
        return forward
    backward = next((i for i in range(cut, start - 1, -1) if history[i].role == "user"), None)
    return backward if backward is not None else cut


Summarise = Callable[[str | None, list[Message]], Awaitable[str]]


async def fit_window(
    history: list[Message],
    budget: int,
    summary: str | None,
    covered: int,
    summarise: Summarise,
) -> tuple[Context, int, bool]:
    """Return ``(context, covered, changed)`` for ``history``.

    ``summary``/``covered`` are the stored state (the summary covers
    ``history[:covered]``). ``changed`` says whether the state must be saved.
    """
    covered = max(0, min(covered, len(history)))
    tail = history[covered:]
    summary_cost = estimate_tokens(summary) if summary else 0
    if sum(message_tokens(m) for m in tail) + summary_cost <= budget or len(tail) <= 1:
        return Context(list(tail), summary), covered, False
    cut = choose_cut(history, covered, max(1, budget // 2))
    if cut <= covered:
        return Context(list(tail), summary), covered, False
    folded = history[covered:cut]
    try:
        new_summary = (await summarise(summary, folded)).strip() or summary
    except Exception as exc:  # a failed summary must not fail the turn
        log.warning("could not summarise older messages: %s", exc)
        # This turn sees the recent messages only; the stored state stays as it
        # was, so the next turn folds ``folded`` again instead of losing it.
        return Context(list(history[cut:]), summary), covered, False
    return Context(list(history[cut:]), new_summary), cut, True


def summary_prompt(previous: str | None, messages: list[Message]) -> str:
    parts = []
    if previous:
        parts.append(f"Previous summary:\n{previous}")
    parts.append(f"New messages:\n{render_messages(messages)}")
    parts.append("Write the updated summary.")
    return "\n\n".join(parts)
