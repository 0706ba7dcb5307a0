"""``muxi`` alone in a terminal opens the chat app without importing Typer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.tui_terminal import CHAT_MARKER, MEMORY_OFF, Terminal, bench_env

SCRIPT = """
import atexit, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(" ".join(
    name for name in ("typer", "click") if name in sys.modules)))
sys.argv = ["muxi"]
from muxi_cli.__main__ import main
main()
"""


@pytest.mark.slow
def test_the_chat_app_opens_without_typer(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "muxi.yaml").write_text("default_model: openai/gpt-4o-mini\n" + MEMORY_OFF)
    out = tmp_path / "loaded.txt"
    term = Terminal([sys.executable, "-c", SCRIPT, str(out)], tmp_path, bench_env(home))
    try:
        term.wait_for(CHAT_MARKER)
    finally:
        term.close()
    assert term.proc.returncode == 0
    assert out.read_text() == ""  # neither Typer nor Click was imported
