"""Tables and notices printed without rich are exactly what rich prints in a pipe.

Each case prints through :func:`muxi_cli.cli.output.print_table` twice: once
on its plain path, once through a rich console (what it did before), and the
outputs must be equal, byte for byte.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from muxi_cli.cli import output, plainout
from muxi_cli.cli.output import Column

WORDS = ["a", "tea", "jazz", "Berlin", "x" * 30, "don't", "#4142", "e-mail", "(ok)", "3.5%"]


def sentence(rng: random.Random) -> str:
    gaps = [" ", " ", " ", "  "]
    words = [rng.choice(WORDS) for _ in range(rng.randint(0, 25))]
    text = "".join(w + rng.choice(gaps) for w in words)
    return text if rng.random() < 0.3 else text.strip()


def columns(rng: random.Random) -> list[Column]:
    cols = [Column("ID"), Column("SCORE", justify="right")]
    cols += [Column("TEXT", wrap=True)] + (
        [Column("NOTE", wrap=True)] if rng.random() < 0.4 else []
    )
    return [*cols, Column("CREATED")]


def both(
    cols: list[Column], rows: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    capsys.readouterr()
    assert output._print_plain(cols, rows)  # printed without rich
    plain = capsys.readouterr().out
    output.print_table(cols, rows, console=output.out_console())  # a console: rich's path
    return plain, capsys.readouterr().out


@pytest.mark.parametrize("seed", range(40))
def test_the_plain_table_is_richs(
    seed: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    monkeypatch.setenv("COLUMNS", str(rng.choice([80, 100, 120, 200])))
    cols = columns(rng)
    rows = []
    for n in range(rng.randint(1, 8)):
        texts = [sentence(rng) for c in cols if c.wrap]
        rows.append([f"{n:016x}", f"{rng.random():.3f}", *texts, "2026-12-06"])
    plain, rich = both(cols, rows, capsys)
    assert plain == rich


def test_a_pipe_without_columns_is_the_pipe_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    cols = [Column("ID"), Column("TEXT", wrap=True)]
    rows = [["1", "word " * 40], ["2", "short"]]
    plain, rich = both(cols, rows, capsys)
    assert plain == rich
    assert max(len(line) for line in plain.splitlines()) == output.PIPE_WIDTH


@pytest.mark.parametrize("cell", ["[bold]x[/bold]", "tea :coffee:", "naïve", "tab\there", "back\\"])
def test_markup_emoji_and_wide_text_go_to_rich(cell: str) -> None:
    assert not plainout.is_plain(cell)


def test_a_terminal_or_forced_colour_takes_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    class Pipe:
        def isatty(self) -> bool:
            return False

    assert plainout.plain_width(Tty(), 120) is None  # type: ignore[arg-type]
    monkeypatch.delenv("COLUMNS", raising=False)
    assert plainout.plain_width(Pipe(), 120) == 120  # type: ignore[arg-type]
    monkeypatch.setenv("COLUMNS", "wide")
    assert plainout.plain_width(Pipe(), 120) is None  # type: ignore[arg-type]
    monkeypatch.setenv("COLUMNS", "90")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert plainout.plain_width(Pipe(), 120) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "message", ["searched memories of 'alice' and shared knowledge", "x" * 119, "a  b"]
)
def test_a_plain_notice_is_richs(message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    code = (
        "import sys\n"
        "from muxi_cli.cli import output\n"
        "msg = sys.argv[1]\n"
        "if sys.argv[2] == 'rich':\n"
        "    output.err_console().print(f'[dim]{output.escape(msg)}[/dim]')\n"
        "else:\n"
        "    output.info(msg)\n"
        "    assert 'rich.console' not in sys.modules\n"
    )

    def run(mode: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code, message, mode],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stderr

    assert run("plain") == run("rich") == message + "\n"


def test_a_table_too_narrow_to_wrap_is_stacked_by_rich(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    cols = [Column("ID"), Column("TEXT", wrap=True)]
    assert not output._print_plain(cols, [["0123456789abcdef", "some words " * 5]])
    output.print_table(cols, [["0123456789abcdef", "some words " * 5]])
    assert capsys.readouterr().out.splitlines()[1].startswith("0123456789abcdef")
