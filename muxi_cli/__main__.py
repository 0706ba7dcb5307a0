"""Entry point of the ``muxi`` command and ``python -m muxi_cli``."""

from __future__ import annotations

import gc
import os
import sys
import threading

#: Seconds of start-up during which the cyclic garbage collector does not run.
GC_PAUSE = 2.0


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
    # Start-up imports (the CLI, pydantic schemas, the SDK, LanceDB) allocate a
    # great many objects that live as long as the process; the collector would
    # scan them again and again while they load (~7% of a one-shot turn's CPU).
    # It is paused for the first seconds only: a long-running command (the chat
    # app, `muxi serve`) gets it back, and a one-shot is over by then.
    pause_gc(GC_PAUSE)
    from muxi_cli.cli.app import run  # deferred: loads Typer

    try:
        run()
    finally:
        # The command is done. Python's shutdown would now run full garbage
        # collections over everything still alive (pydantic schemas, the SDK's
        # models, LanceDB): 0.15-0.25 s of a one-shot `muxi chat`. Freezing moves
        # those objects out of the collector's reach; they are freed as before by
        # reference counting (files flushed, connections closed) - only objects
        # in reference cycles still alive now are left to the OS, whose memory
        # goes with the process anyway (tests/test_main_exit.py).
        gc.freeze()


def pause_gc(seconds: float) -> None:
    """Disable the cyclic collector now and enable it again after ``seconds``."""
    if not gc.isenabled():
        return  # someone wants it off: leave it so
    gc.disable()
    timer = threading.Timer(seconds, gc.enable)
    timer.daemon = True
    timer.name = "muxi: gc pause"
    timer.start()


if __name__ == "__main__":
    main()
