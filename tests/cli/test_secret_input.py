"""The one key reader behind ``muxi keys set`` and ``muxi profile add``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app


@pytest.mark.parametrize(
    ("args", "pipe_hint"),
    [
        (["keys", "set", "openai"], "muxi keys set openai"),
        (["profile", "add", "prod", "--url", "http://127.0.0.1:9"], "muxi profile add prod"),
    ],
)
def test_empty_or_spaced_keys_are_refused_alike(args: list[str], pipe_hint: str) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, args, input="\n")
    assert empty.exit_code == 2
    assert "no key given" in empty.stderr and pipe_hint in empty.stderr
    spaced = runner.invoke(app, args, input="sk-one sk-two\n")
    assert spaced.exit_code == 2
    assert "spaces or line breaks" in spaced.stderr
    assert "sk-one" not in spaced.stderr + spaced.stdout  # the key is never echoed
