"""Keep a reply within a local server's context.

A fixed reply budget fits no local server: a 4,096-token default lets a small
model ramble for minutes, and can exceed a small context outright. The server
says how large its context is (:func:`muxi_cli.providers.local.context_size`);
the reply budget is then kept to half of it, leaving the other half for the
conversation.
"""

from __future__ import annotations


def reply_budget(wanted: int, context: int | None) -> int:
    """``wanted`` kept to half of ``context`` (at least 256 tokens)."""
    if context is None:
        return wanted
    return max(256, min(wanted, context // 2))
