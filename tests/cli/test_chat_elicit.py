"""`muxi chat` asks the user what an MCP server asks, at a terminal only."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from muxi_cli.cli.elicit_prompt import ask
from muxi_cli.protocol.events import EventFactory
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.procs import run_muxi, stopping

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "elicit_server.py"
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Name for the booking"},
        "party": {"type": "integer"},
        "vip": {"type": "boolean"},
        "seat": {"type": "string", "enum": ["inside", "terrace"]},
    },
    "required": ["name", "party"],
}


def _event(**kw):
    f = EventFactory("s_1")
    return f.elicitation_requested("eli_1", "call_1", "booker", "Who?", pending=True, **kw)


def _answers(*lines: str):
    queue = list(lines)
    asked: list[str] = []

    def read(prompt: str) -> str:
        asked.append(prompt)
        return queue.pop(0)

    return read, asked


def test_the_prompt_types_the_answers_and_asks_again_when_they_do_not_fit() -> None:
    read, asked = _answers("Ann", "two", "2", "maybe", "yes", "roof", "terrace", "")
    said: list[str] = []
    action, content = ask(_event(requested_schema=SCHEMA), read, said.append)
    assert action == "accept"
    assert content == {"name": "Ann", "party": 2, "vip": True, "seat": "terrace"}
    assert "not a whole number" in "".join(said) and "choose one of" in "".join(said)
    assert asked[0].startswith("  name (string, required) - Name for the booking")


def test_a_blank_required_answer_declines_and_end_of_input_cancels() -> None:
    read, _ = _answers("")
    assert ask(_event(requested_schema=SCHEMA), read, lambda _s: None) == ("decline", None)

    def eof(prompt: str) -> str:
        from muxi_cli.cli import elicit_prompt

        raise elicit_prompt._EndOfInput

    assert ask(_event(requested_schema=SCHEMA), eof, lambda _s: None) == ("cancel", None)
    read, _ = _answers("y")
    url = _event(mode="url", url="https://example.invalid/connect")
    assert ask(url, read, lambda _s: None) == ("accept", None)


def test_the_servers_escape_sequences_never_reach_the_terminal() -> None:
    f = EventFactory("s_1")
    hostile = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"  # write the clipboard, clear the screen
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "title": f"Name{hostile}", "description": hostile},
            "seat": {"type": "string", "enum": [f"in{hostile}", "out"]},
        },
    }
    form = f.elicitation_requested(
        "eli_1", "call_1", "booker", f"Who?{hostile}", pending=True, requested_schema=schema
    )
    read, asked = _answers("Ann", "out", "")
    said: list[str] = []
    assert ask(form, read, said.append)[0] == "accept"
    url = f.elicitation_requested(
        "eli_2",
        "call_1",
        "booker",
        "Go",
        pending=True,
        mode="url",
        url=f"https://good.example/{hostile}\x1b[1A\rhttps://evil.example",
    )
    read2, asked2 = _answers("n")
    ask(url, read2, said.append)
    shown = "".join(said + asked + asked2)
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
    assert "Who?" in shown and "good.example" in shown


def _formation(fake: FakeLLM, tmp_path: Path) -> None:
    extra = (
        f"mcp_servers:\n  booker:\n    command: {sys.executable}\n    args: [{str(SERVER)!r}]\n"
        "    approval: allow\nagents:\n  - name: a\n    mcp_servers: [booker]\n"
    )
    fake.write_formation(tmp_path, extra=extra)


def test_piped_muxi_chat_declines_even_with_yes(
    fake_llm: FakeLLM, tmp_path: Path, muxi_home: Path
) -> None:
    _formation(fake_llm, tmp_path)
    fake_llm.script(ToolCalls([("booker__book_table", {"day": "Mon"})]), Text("Not booked."))
    result = run_muxi("chat", "--yes", "--output", "jsonl", "book", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"type":"elicitation.resolved"' in result.stdout.replace(" ", "")
    assert '"action":"decline"' in result.stdout.replace(" ", "")
    assert fake_llm.requests[-1]["messages"][-1]["content"] == "booking declined"


def test_muxi_chat_at_a_terminal_asks_and_the_server_gets_the_answers(
    fake_llm: FakeLLM, tmp_path: Path, muxi_home: Path
) -> None:
    _formation(fake_llm, tmp_path)
    fake_llm.script(ToolCalls([("booker__book_table", {"day": "Mon"})]), Text("Booked."))
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "muxi_cli", "chat", "book a table"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen = b""

    def until(text: bytes, timeout: float = 60) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen:
            left = deadline - time.monotonic()
            assert left > 0, seen.decode(errors="replace")
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, seen.decode(errors="replace")
                seen += chunk

    try:
        with stopping(proc):
            until(b"Who is the table on Mon for?")
            until(b"name (string, required)")
            os.write(master, b"Ann\n")
            until(b"party (integer, required)")
            os.write(master, b"4\n")
            until(b"Send these answers?")
            os.write(master, b"\n")
            until(b"Booked.")
            assert proc.wait(30) == 0
    finally:
        os.close(master)
    assert fake_llm.requests[-1]["messages"][-1]["content"] == "booked Mon for Ann, 4 people"
