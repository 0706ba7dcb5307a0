"""The one ``@agent`` mention grammar (protocol/mentions.py) and its edge cases."""

from __future__ import annotations

import pytest

from muxi_cli.protocol.mentions import leading_mention, partial_mention, split_mention

AGENTS = ["coder", "writer", "data-bot", "r2_d2"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@coder fix this", ("coder", "fix this")),
        ("  @coder   fix this", ("coder", "fix this")),
        ("@coder: why?", ("coder", "why?")),
        ("@coder, why?", ("coder", "why?")),
        ("@coder,why?", ("coder", "why?")),
        ("@coder\nline one\nline two", ("coder", "line one\nline two")),
        ("@data-bot sum it", ("data-bot", "sum it")),
        ("@r2_d2 beep", ("r2_d2", "beep")),
        ("@coder", ("coder", "")),  # the mention alone: the caller decides
        # Not mentions: unknown agents, addresses, mid-text, case, a lone @.
        ("@nobody fix it", (None, "@nobody fix it")),
        ("@Coder fix it", (None, "@Coder fix it")),
        ("mail bob@example.com", (None, "mail bob@example.com")),
        ("@coder.example.com hi", (None, "@coder.example.com hi")),
        ("@coder@example.com", (None, "@coder@example.com")),
        ("email @coder", (None, "email @coder")),
        ("ask me@", (None, "ask me@")),
        ("@", (None, "@")),
        ("@ coder hi", (None, "@ coder hi")),
        ("@1coder hi", (None, "@1coder hi")),
        ("@codér hi", (None, "@codér hi")),
    ],
)
def test_split_mention(text: str, expected: tuple[str | None, str]) -> None:
    assert split_mention(text, AGENTS) == expected


def test_leading_mention_names_unknown_agents_too() -> None:
    mention = leading_mention("@codr fix this")
    assert mention is not None and (mention.name, mention.rest) == ("codr", "fix this")
    assert leading_mention("@" + "a" * 64 + " hi") is not None
    assert leading_mention("@" + "a" * 65 + " hi") is None  # longer than any agent name
    assert leading_mention("hi @coder") is None


@pytest.mark.parametrize(
    ("before", "typed"),
    [
        ("@", ""),
        ("@co", "co"),
        ("ask @wr", "wr"),
        ("x\n@c", "c"),
        ("@data-b", "data-b"),
        ("mail me@wr", None),  # an address is not a mention
        ("@coder ", None),  # finished
        ("plain text", None),
    ],
)
def test_partial_mention_for_completion(before: str, typed: str | None) -> None:
    assert partial_mention(before) == typed
