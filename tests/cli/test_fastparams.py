"""Option values coerced without pydantic give what typer's own adapters give:
the same values, and for a bad value the same error."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import pytest
import typer
import typer.testing
from typer.testing import CliRunner

from muxi_cli.cli import fastparams


class Colour(StrEnum):
    red = "red"
    blue = "blue"


def command(fast: bool) -> typer.core.TyperCommand:
    single = typer.Typer(add_completion=False)

    @single.command()
    def show(
        name: Annotated[str, typer.Argument()],
        count: Annotated[int, typer.Option("--count")] = 1,
        limited: Annotated[int, typer.Option("--limited", min=1, max=3)] = 1,
        colour: Annotated[Colour, typer.Option("--colour")] = Colour.red,
        shout: Annotated[Colour, typer.Option("--shout", case_sensitive=False)] = Colour.red,
        tag: Annotated[list[str] | None, typer.Option("--tag")] = None,
        flag: Annotated[bool, typer.Option("--flag")] = False,
        ratio: Annotated[float, typer.Option("--ratio")] = 0.5,
    ) -> None:
        values = [name, count, limited, colour, shout, tag, flag, ratio]
        typer.echo(repr([(type(v).__name__, v) for v in values]))

    cmd = typer.main.get_command(single)
    if fast:
        fastparams.install(cmd)
    return cmd  # type: ignore[return-value]


CASES = [
    ["hi"],
    ["hi", "--count", "-12", "--colour", "blue", "--tag", "a", "--tag", "b", "--flag"],
    ["hi", "--shout", "BLUE", "--ratio", "2"],
    ["hi", "--count", "1.5"],  # not an int: typer's error
    ["hi", "--count", " 7"],  # pydantic's lax int: whatever it says
    ["hi", "--limited", "9"],  # out of range
    ["hi", "--limited", "0"],  # under the minimum
    ["hi", "--limited", "3"],  # in range: the fast path
    ["hi", "--limited", "1"],
    ["hi", "--colour", "BLUE"],  # case-sensitive choice
    ["hi", "--colour", "green"],
    ["--help"],
]


def run(args: list[str], fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    # typer's runner takes a Typer app and builds its command: hand it ours.
    cmd = command(fast)
    monkeypatch.setattr(typer.testing, "_get_command", lambda app: cmd)
    result = CliRunner().invoke(typer.Typer(), args, prog_name="show")
    return result.exit_code, result.output


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_fast_coercion_matches_typer(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    slow = run(args, False, monkeypatch)
    assert run(args, True, monkeypatch) == slow
    assert slow[0] in (0, 2)


def test_simple_parameters_get_the_fast_coercion() -> None:
    cmd = command(fast=True)
    kinds = {p.name: getattr(p._runtime_param, "kind", None) for p in cmd.params}  # type: ignore[attr-defined]
    assert kinds == {
        "name": "str",
        "count": "int",
        "limited": "int",  # in range here; out of it, typer's own adapter
        "colour": "choice",
        "shout": "choice",
        "tag": "list",
        "flag": "bool",
        "ratio": None,
    }
