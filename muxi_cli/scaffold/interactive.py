"""The questions of ``muxi create mcp-server``, asked with prompt_toolkit.

Every question is skipped when its flag was given. The flow talks to a
:class:`Prompter`, so tests drive it with prompt_toolkit's pipe input (the real
prompts) or with scripted answers. Prompts are drawn on stderr: stdout stays
for results (``--json``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from muxi_cli.errors import MuxiError
from muxi_cli.scaffold.names import suggest_name, validate_name
from muxi_cli.scaffold.options import (
    DEFAULT_NAME,
    DEFAULT_TOOLS,
    DEFAULT_TRANSPORT,
    TRANSPORTS,
    author_text,
    clean_description,
    clean_tools,
    default_author,
    default_description,
    parse_author,
)

if TYPE_CHECKING:
    from prompt_toolkit.input import Input
    from prompt_toolkit.output import Output

Check = Callable[[str], str | None]  # returns an error message, or None when valid
_YES = {"y", "yes"}
_NO = {"n", "no"}


class Prompter(Protocol):
    def say(self, message: str) -> None: ...

    def text(self, message: str, *, default: str = "", check: Check | None = None) -> str: ...

    def confirm(self, message: str, *, default: bool) -> bool: ...

    def choice(self, message: str, choices: Sequence[str], *, default: str) -> str: ...


class PromptToolkitPrompter:
    """Questions in the terminal (or on any prompt_toolkit input/output, for tests)."""

    def __init__(self, input: Input | None = None, output: Output | None = None) -> None:
        from prompt_toolkit import PromptSession  # deferred: prompt_toolkit is slow to import

        if output is None:
            from prompt_toolkit.output import (
                create_output,  # deferred: prompt_toolkit is slow to import
            )

            output = create_output(stdout=sys.stderr)
        self._output = output
        self._session: PromptSession[str] = PromptSession(input=input, output=output)

    def say(self, message: str) -> None:
        from prompt_toolkit import (
            print_formatted_text,  # deferred: prompt_toolkit is slow to import
        )

        print_formatted_text(message, output=self._output)

    def _ask(self, message: str, check: Check | None, completions: Sequence[str] = ()) -> str:
        from prompt_toolkit.completion import (
            WordCompleter,  # deferred: prompt_toolkit is slow to import
        )
        from prompt_toolkit.validation import (  # deferred: prompt_toolkit is slow to import
            ValidationError,
            Validator,
        )

        class _Validator(Validator):
            def validate(self, document: Any) -> None:
                problem = check(document.text) if check else None
                if problem:
                    raise ValidationError(message=problem, cursor_position=len(document.text))

        try:
            return self._session.prompt(
                message,
                validator=_Validator(),
                validate_while_typing=False,
                completer=WordCompleter(list(completions)) if completions else None,
            )
        except EOFError:
            raise KeyboardInterrupt from None

    def text(self, message: str, *, default: str = "", check: Check | None = None) -> str:
        shown = f"{message} [{default}]: " if default else f"{message}: "

        def with_default(value: str) -> str | None:
            return check(value.strip() or default) if check else None

        answer = self._ask(shown, with_default).strip()
        return answer or default

    def confirm(self, message: str, *, default: bool) -> bool:
        shown = f"{message} [{'Y/n' if default else 'y/N'}]: "

        def yes_no(value: str) -> str | None:
            word = value.strip().lower()
            return None if not word or word in _YES | _NO else "answer y or n"

        word = self._ask(shown, yes_no, ("yes", "no")).strip().lower()
        return default if not word else word in _YES

    def choice(self, message: str, choices: Sequence[str], *, default: str) -> str:
        shown = f"{message} ({'/'.join(choices)}) [{default}]: "

        def one_of(value: str) -> str | None:
            word = value.strip().lower()
            return None if not word or word in choices else f"choose one of {', '.join(choices)}"

        word = self._ask(shown, one_of, choices).strip().lower()
        return word or default


@dataclass
class Answers:
    """Raw answers, in the shape :func:`muxi_cli.scaffold.options.build_options` takes."""

    name: str
    description: str | None
    tools: list[str]
    resources: bool
    prompts: bool
    transport: str
    author: str
    dockerfile: bool
    register: bool
    extras: bool = True


def _problem(fn: Callable[[str], Any]) -> Check:
    def check(value: str) -> str | None:
        try:
            fn(value)
        except MuxiError as exc:
            return f"{exc.message} {exc.hint or ''}".strip()
        return None

    return check


def _tools_check(value: str) -> str | None:
    if value.strip().lower() == "none":
        return None
    return _problem(lambda v: clean_tools([v]))(value)


def ask(
    prompter: Prompter,
    *,
    name: str | None = None,
    description: str | None = None,
    tools: list[str] | None = None,
    resources: bool | None = None,
    prompts: bool | None = None,
    transport: str | None = None,
    author: str | None = None,
    dockerfile: bool | None = None,
    register: bool | None = None,
    formation: Path | None = None,
    extras: bool | None = None,
) -> Answers:
    """Ask every question whose flag was not given."""
    prompter.say("Create an MCP server (Enter keeps the [default]; Ctrl-C cancels)")
    if name is None:
        name = prompter.text("Project name", default=DEFAULT_NAME, check=_name_check)
    project = validate_name(name)
    if description is None:
        description = prompter.text(
            "Description",
            default=default_description(project),
            check=_problem(clean_description),
        )
    if tools is None:
        answer = prompter.text(
            "Example tools (comma-separated names, or 'none')",
            default=", ".join(DEFAULT_TOOLS),
            check=_tools_check,
        )
        tools = [] if answer.strip().lower() == "none" else clean_tools([answer])
    if resources is None:
        resources = prompter.confirm("Add an example resource and resource template?", default=True)
    if prompts is None:
        prompts = prompter.confirm("Add an example prompt?", default=True)
    if transport is None:
        transport = prompter.choice("Transport", TRANSPORTS, default=DEFAULT_TRANSPORT)
    if author is None:
        author = prompter.text(
            "Author", default=author_text(*default_author()), check=_problem(parse_author)
        )
    if dockerfile is None:
        dockerfile = (
            prompter.confirm("Add a Dockerfile (HTTP transport, non-root)?", default=False)
            if transport in ("http", "both")
            else False
        )
    if register is None:
        register = (
            prompter.confirm(f"Register the server in {formation}?", default=True)
            if formation is not None
            else False
        )
    return Answers(
        name=name,
        description=description,
        tools=tools,
        resources=resources,
        prompts=prompts,
        transport=transport,
        author=author,
        dockerfile=dockerfile,
        register=register,
        # Not asked (one question fewer): on unless --no-extras.
        extras=True if extras is None else extras,
    )


def _name_check(value: str) -> str | None:
    try:
        validate_name(value)
    except MuxiError as exc:
        return f"{exc.message} Try: {suggest_name(value)}"
    return None
