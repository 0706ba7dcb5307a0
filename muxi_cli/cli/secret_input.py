"""Reading a secret (an API key) without it touching argv.

From a hidden prompt when stdin is a terminal, otherwise from stdin
(``pass show anthropic | muxi keys set anthropic``). Used by ``muxi keys set``
and ``muxi profile add``.
"""

from __future__ import annotations

import sys

from muxi_cli.errors import UsageError


def read_secret(label: str, pipe_example: str) -> str:
    """One key, stripped; a :class:`UsageError` when it is empty or has inner whitespace.

    ``label`` is the prompt text; ``pipe_example`` the command the hint shows
    for piping the key in instead.
    """
    import typer  # deferred: Typer is slow to import

    if sys.stdin is None or not sys.stdin.isatty():
        value = sys.stdin.read() if sys.stdin is not None else ""
    else:
        value = typer.prompt(label, hide_input=True, err=True)
    value = value.strip()
    if not value:
        raise UsageError(
            "no key given",
            hint=f'Paste the key at the prompt, or pipe it: `printf %s "$KEY" | {pipe_example}`.',
        )
    if any(ch.isspace() for ch in value):
        raise UsageError(
            "the key contains spaces or line breaks",
            hint="Give exactly one key, on one line.",
        )
    return value
