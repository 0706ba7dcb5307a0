"""The interactive flow, driven through its real prompt_toolkit prompts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from muxi_cli.scaffold.interactive import PromptToolkitPrompter, ask


@pytest.fixture
def keyboard() -> Iterator[tuple[PromptToolkitPrompter, object]]:
    with create_pipe_input() as pipe:
        yield PromptToolkitPrompter(input=pipe, output=DummyOutput()), pipe


def test_every_question_answered(keyboard: tuple[PromptToolkitPrompter, object]) -> None:
    prompter, pipe = keyboard
    pipe.send_text(  # type: ignore[attr-defined]
        "weather-tools\n"  # name
        "Forecasts and alerts\n"  # description
        "forecast, get_alerts\n"  # tools
        "n\n"  # resources
        "y\n"  # prompts
        "http\n"  # transport
        "Ada Lovelace <ada@example.org>\n"  # author
        "yes\n"  # dockerfile
        "\n"  # register (default yes)
    )
    answers = ask(prompter, formation=Path("/somewhere/muxi.yaml"))
    assert answers.name == "weather-tools"
    assert answers.description == "Forecasts and alerts"
    assert answers.tools == ["forecast", "get_alerts"]
    assert (answers.resources, answers.prompts) == (False, True)
    assert answers.transport == "http"
    assert answers.author == "Ada Lovelace <ada@example.org>"
    assert answers.dockerfile is True
    assert answers.register is True


def test_enter_keeps_the_defaults(keyboard: tuple[PromptToolkitPrompter, object]) -> None:
    prompter, pipe = keyboard
    pipe.send_text("\n" * 8)  # type: ignore[attr-defined]
    answers = ask(prompter, author=None, formation=None)
    assert answers.name == "my-mcp-server"
    assert answers.description == "My Mcp Server: an MCP server."
    assert answers.tools == ["word_count"]
    assert (answers.resources, answers.prompts, answers.transport) == (True, True, "both")
    assert answers.dockerfile is False
    assert answers.register is False  # no muxi.yaml: not asked


def test_invalid_answers_are_asked_again(keyboard: tuple[PromptToolkitPrompter, object]) -> None:
    prompter, pipe = keyboard
    pipe.send_text(  # type: ignore[attr-defined]
        # A rejected answer stays in the line with the error shown: Ctrl-U clears it.
        "class\n\x15"  # rejected: keyword
        "../evil\n\x15"  # rejected: path
        "good-name\n"
        "\n"  # description
        "Bad Tool!\n\x15"  # rejected
        "none\n"  # no tools
        "maybe\n\x15"  # rejected: not y/n
        "n\n"  # resources
        "\n"  # prompts: default yes
        "carrier-pigeon\n\x15"  # rejected transport
        "stdio\n"
    )
    answers = ask(prompter, author="Me", formation=None)
    assert answers.name == "good-name"
    assert answers.tools == []
    assert answers.resources is False
    assert answers.prompts is True
    assert answers.transport == "stdio"
    assert answers.dockerfile is False  # stdio only: not asked


def test_flags_skip_their_questions(keyboard: tuple[PromptToolkitPrompter, object]) -> None:
    prompter, pipe = keyboard
    pipe.send_text("A description\n")  # type: ignore[attr-defined]
    answers = ask(
        prompter,
        name="flagged",
        tools=["one"],
        resources=True,
        prompts=False,
        transport="both",
        author="Me",
        dockerfile=False,
        register=False,
    )
    assert answers.name == "flagged"
    assert answers.description == "A description"


def test_ctrl_d_cancels(keyboard: tuple[PromptToolkitPrompter, object]) -> None:
    prompter, pipe = keyboard
    pipe.send_text("\x04")  # type: ignore[attr-defined]
    with pytest.raises(KeyboardInterrupt):
        ask(prompter)


def test_rejected_name_shows_a_suggestion() -> None:
    from muxi_cli.scaffold.interactive import _name_check

    assert "Try: class-server" in (_name_check("class") or "")
    assert _name_check("fine-name") is None
