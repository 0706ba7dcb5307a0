"""Entry point of the ``muxi`` command and ``python -m muxi_cli``."""

from __future__ import annotations

import os
import sys


def _chat_app_at_once() -> bool:
    """``muxi`` alone in a terminal opens the chat app without importing Typer
    (tens of ms of the app's start); anything else goes through the CLI."""
    if len(sys.argv) > 1 or os.environ.get("CI"):
        return False
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    from muxi_cli.cli.state import CliState  # deferred: only for the chat app
    from muxi_cli.cli.tui_launch import launch_tui  # deferred: only for the chat app

    launch_tui(CliState(verbose=os.environ.get("MUXI_VERBOSE") == "1"))
    return True


def main() -> None:
    if _chat_app_at_once():
        return

    # Plain help text answers `muxi --help` in a fraction of the time rich help
    # needs (typer reads this when it is imported); TYPER_USE_RICH=1 brings it back.
    os.environ.setdefault("TYPER_USE_RICH", "0")
    from muxi_cli.cli.app import run  # deferred: loads Typer

    run()


if __name__ == "__main__":
    main()
