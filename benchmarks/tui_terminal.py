"""The chat app as a user meets it: a real process on a pseudo-terminal.

Used by ``bench_tui``: time until something is drawn (the app's start, a bare
Textual app's start) and from pressing Enter on the first message to its reply's
first word on the screen, against ``tests/fakellm.py`` answering at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import PYTHON, ROOT
from tests.fakellm import FakeLLM, Text
from tests.keyring_backend import FILE_BACKEND
from tests.procs import stop

SIZE = (100, 30)
#: The chat screen's footer: the first frame of the app is up.
CHAT_MARKER = b"Enter send"
#: The first word of the scripted reply (plain text: drawn as one run of characters).
REPLY_WORD = "Zanzibar"
QUIT = b"\x11"  # Ctrl+Q

#: The simplest Textual app with the same kind of input as the chat app's.
BARE_APP = f"""
from textual.app import App
from textual.widgets import Static, TextArea

class Bare(App):
    def compose(self):
        yield TextArea()
        yield Static({CHAT_MARKER.decode()!r})

Bare().run()
"""

MEMORY_OFF = "agents:\n  - name: assistant\n    memory: {enabled: false}\n"


class Terminal:
    """A program on a pseudo-terminal of :data:`SIZE`; what it draws is kept."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        cols, rows = SIZE
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(args),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def _read(self, until: float) -> None:
        ready, _, _ = select.select([self.master], [], [], max(0.0, until - time.perf_counter()))
        if ready:
            try:
                self.screen = (self.screen + os.read(self.master, 65536))[-400_000:]
            except OSError:  # the program exited
                pass

    def wait_for(self, marker: bytes, timeout: float = 60.0) -> float:
        """The time ``marker`` was first read (the app never blocks on a full pty)."""
        deadline = time.perf_counter() + timeout
        while marker not in self.screen:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited ({self.proc.returncode}) before {marker!r}")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{marker!r} not drawn within {timeout} s")
            self._read(min(deadline, time.perf_counter() + 0.05))
        return time.perf_counter()

    def pump(self, seconds: float) -> None:
        """Keep reading for ``seconds`` (what a user does while typing)."""
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self._read(min(end, time.perf_counter() + 0.05))

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.type(QUIT)
        end = time.perf_counter() + 5
        while self.proc.poll() is None and time.perf_counter() < end:
            self._read(min(end, time.perf_counter() + 0.05))
        stop(self.proc)
        os.close(self.master)


def bench_env(home: Path) -> dict[str, str]:
    """A clean environment: its own home, keyring and no keys; no Ollama probe, no host."""
    env = dict(os.environ)
    env.update(
        {
            "MUXI_HOME": str(home),
            "MUXI_NO_OLLAMA_PROBE": "1",
            "MUXI_HOST": "off",  # the app in this process, as measured before hosts existed
            "LANCEDB_LOG": "error",
            "PYTHONPATH": str(ROOT),
            "PYTHON_KEYRING_BACKEND": FILE_BACKEND,
            "TERM": "xterm-256color",
        }
    )
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MUXI_PROFILE", "MUXI_CONFIG", "CI"):
        env.pop(name, None)
    return env


def start_ms(args: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """New process until its first frame (the marker) is drawn."""
    term = Terminal(args, cwd, env)
    try:
        return (term.wait_for(CHAT_MARKER) - term.started) * 1000
    finally:
        term.close()


def starts(repeat: int) -> tuple[list[float], list[float]]:
    """The chat app's start and a bare Textual app's, alternating (same load)."""
    muxi, bare = [], []
    with FakeLLM() as fake, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "muxi.yaml").write_text(fake.formation_yaml(extra=MEMORY_OFF))
        env = bench_env(home)
        for _ in range(repeat):
            muxi.append(start_ms([PYTHON, "-m", "muxi_cli"], home, env))
            bare.append(start_ms([PYTHON, "-c", BARE_APP], home, env))
    return muxi, bare


def add_memory(home: Path, env: dict[str, str]) -> None:
    """A user with memories: one added through the CLI (the local embedding model)."""
    subprocess.run(
        [PYTHON, "-m", "muxi_cli", "memory", "add", "The user's cat is called Miso."],
        cwd=home,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def first_reply_ms(home: Path, fake: FakeLLM, think: float) -> float:
    """A new app; the first message is typed, Enter is pressed ``think`` s after the
    first frame; the time from Enter to the reply's first word on the screen."""
    fake.script(Text(f"{REPLY_WORD} is an island. More words follow here."))
    term = Terminal([PYTHON, "-m", "muxi_cli"], home, bench_env(home))
    try:
        shown = term.wait_for(CHAT_MARKER)
        term.type(b"hello")
        term.pump(max(0.0, think - (time.perf_counter() - shown)))
        term.screen = b""
        enter = time.perf_counter()
        term.type(b"\r")
        return (term.wait_for(REPLY_WORD.encode()) - enter) * 1000
    finally:
        term.close()


def first_replies(case: str, repeat: int, think: float) -> list[float]:
    """``case``: ``memory_off``; ``new_user`` (memory on, nothing stored: a new home
    each time); ``memories`` (memory on, a store with one memory)."""
    samples = []
    with FakeLLM() as fake, tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            home = Path(tmp) / (f"home{i}" if case == "new_user" else "home")
            home.mkdir(exist_ok=True)
            extra = MEMORY_OFF if case == "memory_off" else ""
            (home / "muxi.yaml").write_text(fake.formation_yaml(extra=extra))
            if case == "memories" and i == 0:
                add_memory(home, bench_env(home))
            samples.append(first_reply_ms(home, fake, think))
    return samples


if __name__ == "__main__":  # a quick look: python -m benchmarks.tui_terminal [THINK]
    pause = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    for name in ("memory_off", "new_user", "memories"):
        print(name, [round(ms) for ms in first_replies(name, 2, pause)], flush=True)
    print("starts (muxi, bare)", [[round(ms) for ms in side] for side in starts(3)])
