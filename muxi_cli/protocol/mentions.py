"""The ``@agent`` mention grammar, defined once for the router, the chat app
and its completer.

A message addresses an agent when it *starts* with ``@name`` (leading blanks
allowed) and the name is followed by the end of the text, a blank, or ``:`` /
``,``: ``@coder fix this``, ``@coder: why?``, ``@coder,why``. The
name uses the agent-name grammar (:data:`AGENT_NAME`), so ``@example.com``,
``bob@example.com`` and a lone ``@`` are text, never mentions. Whether the
name is an agent is the caller's question (:func:`split_mention`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

#: An agent's name: a letter, then letters, digits, ``_`` or ``-`` (64 at most).
AGENT_NAME = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
_NAME_CHARS = r"[A-Za-z0-9_-]"

_LEADING = re.compile(rf"\s*@({AGENT_NAME})(?:[:,]|(?=\s|$))\s*")
_PARTIAL = re.compile(rf"(?:^|\s)@({_NAME_CHARS}*)$")


@dataclass(frozen=True, slots=True)
class Mention:
    #: The name after ``@`` (an agent or not).
    name: str
    #: The message without the mention, its separator and the blanks after it.
    rest: str


def leading_mention(text: str) -> Mention | None:
    """The ``@name`` ``text`` starts with, if any (known agent or not)."""
    match = _LEADING.match(text)
    if match is None:
        return None
    return Mention(match.group(1), text[match.end() :])


def split_mention(text: str, agents: Collection[str]) -> tuple[str | None, str]:
    """``"@coder fix this"`` -> ``("coder", "fix this")`` when ``coder`` is one
    of ``agents``; otherwise ``(None, text)`` unchanged."""
    mention = leading_mention(text)
    if mention is None or mention.name not in agents:
        return None, text
    return mention.name, mention.rest


def partial_mention(before_cursor: str) -> str | None:
    """The start of an ``@name`` being typed at the end of ``before_cursor``
    (``""`` right after the ``@``), for completion; None if there is none.
    An ``@`` inside a word (``me@wr``) is an address, not a mention."""
    match = _PARTIAL.search(before_cursor)
    return match.group(1) if match else None
