"""Helpers shared by CLI tests: run commands in-process and read help as users see it."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from muxi_cli.cli.app import app

PY = sys.executable


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def plain_help(*args: str) -> str:
    """Help as users see it: the real entry point (plain, not rich, help)."""
    env = {k: v for k, v in os.environ.items() if k != "TYPER_USE_RICH"}
    result = subprocess.run(
        [PY, "-m", "muxi_cli", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
