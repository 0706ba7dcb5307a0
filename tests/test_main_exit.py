"""The entry point's garbage-collector settings: paused during start-up, frozen at exit."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from pathlib import Path

from muxi_cli.__main__ import pause_gc


def test_the_collector_pauses_and_comes_back() -> None:
    assert gc.isenabled()
    try:
        pause_gc(0.05)
        assert not gc.isenabled()
        timer = next(t for t in threading.enumerate() if t.name == "muxi: gc pause")
        assert timer.daemon  # never keeps a finished command alive
        timer.join(timeout=10)
        assert gc.isenabled()
    finally:
        gc.enable()


def test_a_collector_switched_off_by_someone_else_stays_off() -> None:
    gc.disable()
    try:
        pause_gc(0.0)
        assert not any(t.name == "muxi: gc pause" for t in threading.enumerate())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_command_ends_with_the_heap_frozen_and_its_output_flushed(tmp_path: Path) -> None:
    # atexit handlers run after main() returns: the freeze has happened by then,
    # and what the command wrote (buffered, to a pipe) still arrives whole.
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: sys.stderr.write(f'frozen={gc.get_freeze_count() > 0}\\n'))\n"
        "sys.argv = ['muxi', '--version']\n"
        "from muxi_cli.__main__ import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "frozen=True" in done.stderr
    assert done.stdout.strip()
