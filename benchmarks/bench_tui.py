"""The chat app: time to an interactive prompt, streaming speed, long sessions.

    .venv/bin/python -m benchmarks.run tui

- ``tui.start_to_prompt``: a fresh ``python`` process that opens the app the way
  ``muxi`` does (real runtime factory, headless) until the input has focus.
- ``tui.import`` / ``tui.compose_to_prompt``: the same, timed inside the process
  (no interpreter start-up).
- ``tui.stream_2000_tokens``: a 2,000-delta reply from send to fully rendered.
- ``tui.session_500_messages``: memory (tracemalloc) and time to open a
  500-message session, and the time a keypress takes with it on screen.
- ``tui.start_on_screen`` / ``tui.bare_textual_on_screen``: ``python -m muxi_cli``
  on a pseudo-terminal until the chat screen is drawn, and a bare Textual app
  (a TextArea) the same way, alternating; their ratio is
  ``tui.start_vs_bare_textual`` (benchmarks/tui_terminal.py).
- ``tui.first_reply.*``: a new app on a pseudo-terminal, the first message typed
  and sent :data:`THINK` s after the chat screen appeared; time from Enter to the
  reply's first word on the screen, the fake model answering at once. Memory
  off; memory on for a new user (nothing stored); a user with memories; and
  ``at_once``: Enter as soon as the screen is drawn (memory off), which waits
  for the runtime to open and warm up.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from benchmarks.common import PYTHON, ROOT, Result
from tests.procs import stopping

_CHILD = r"""
import time
t0 = time.perf_counter()
import asyncio, json, sys
from muxi_cli.cli.tui_launch import runtime_factory
from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.widgets.prompt import PromptInput
t_import = time.perf_counter()

async def main():
    app = MuxiApp(runtime_factory("local", sys.argv[1]), cursor_blink=False)
    t_start = time.perf_counter()
    async with app.run_test(size=(100, 40)) as pilot:
        while not isinstance(app.focused, PromptInput):
            await pilot.pause(0.001)
        t_ready = time.perf_counter()
        print(json.dumps({"import_ms": (t_import - t0) * 1000, "compose_ms": (t_ready - t_start) * 1000}), flush=True)
        await app.shutdown_runtime()

asyncio.run(main())
"""


def _env(home: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MUXI_HOME": home,
            "MUXI_NO_OLLAMA_PROBE": "1",
            "LANCEDB_LOG": "error",
            "PYTHONPATH": str(ROOT),
        }
    )
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MUXI_PROFILE", "MUXI_CONFIG"):
        env.pop(name, None)
    return env


def _startup(repeat: int) -> list[Result]:
    wall, imports, composes = [], [], []
    with tempfile.TemporaryDirectory() as home:
        formation = Path(home) / "muxi.yaml"
        formation.write_text(
            "default_model: openai/bench\nproviders:\n  openai:\n    base_url: http://127.0.0.1:9/v1\n    api_key: sk-bench\n"
        )
        for _ in range(repeat):
            started = time.perf_counter()
            with stopping(
                subprocess.Popen(
                    [PYTHON, "-c", _CHILD, str(formation)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=_env(home),
                    cwd=home,
                )
            ) as proc:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                wall.append((time.perf_counter() - started) * 1000)
                proc.communicate(timeout=60)
            data = json.loads(line)
            imports.append(data["import_ms"])
            composes.append(data["compose_ms"])
        baseline = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([PYTHON, "-c", "import textual.app"], check=True, env=_env(home))
            baseline.append((time.perf_counter() - started) * 1000)
    return [
        Result(
            "tui.baseline_textual_import",
            round(statistics.median(baseline)),
            "ms",
            None,
            "python -c 'import textual.app' (gauges machine load)",
        ),
        Result(
            "tui.start_to_prompt",
            round(statistics.median(wall)),
            "ms",
            "< 600 ms",
            "new process until the input has focus",
        ),
        Result(
            "tui.import", round(statistics.median(imports)), "ms", None, "import muxi_cli.tui.app"
        ),
        Result(
            "tui.compose_to_prompt",
            round(statistics.median(composes)),
            "ms",
            None,
            "App start until the input has focus",
        ),
    ]


async def _until(pilot, predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark condition not met")
        await pilot.pause(0.001)


async def _stream(tokens: int) -> tuple[float, int]:
    from muxi_cli.tui.app import MuxiApp
    from muxi_cli.tui.model import ReplyRecord
    from tests.tui.fake_runtime import FakeRuntime, Text

    fake = FakeRuntime()
    text = "".join(f"token{i} " if i % 40 else f"\n\nParagraph {i // 40}: " for i in range(tokens))
    fake.script(Text(text))
    app = MuxiApp(runtime=fake, cursor_blink=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await _until(pilot, lambda: app._settled.is_set())
        app.chat.prompt.load_text("go")
        started = time.perf_counter()
        await pilot.press("enter")

        def done() -> bool:
            records = [r for r in app.chat.transcript.records if isinstance(r, ReplyRecord)]
            return bool(records) and records[-1].state == "done" and not app.chat.busy

        await _until(pilot, done)
        await pilot.pause()
        elapsed = (time.perf_counter() - started) * 1000
        md = app.chat.query("ReplyMarkdown").last()
        assert md.source == text, "the rendered Markdown lost text"
        return elapsed, len(text.split(" "))


async def _long_session(messages: int, trace: bool) -> tuple[float, float, float]:
    """Open a session of ``messages`` messages; returns (MB traced, open ms, keypress ms)."""
    import importlib

    from textual import events

    from muxi_cli.tui.app import WARM_MODULES, MuxiApp
    from tests.tui.fake_runtime import FakeRuntime

    for module in WARM_MODULES:  # module import cost is not session cost
        importlib.import_module(module)
    fake = FakeRuntime()
    reply = "Here is an answer with `code`, a list:\n\n- one\n- two\n\n```py\nprint('x')\n```\n"
    sid = fake.add_session("Long", [(f"question {i}", reply) for i in range(messages // 2)])
    if trace:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if trace else 0
    app = MuxiApp(runtime=fake, cursor_blink=False, session_id=sid)
    async with app.run_test(size=(100, 40)) as pilot:
        started = time.perf_counter()
        await _until(
            pilot,
            lambda: len(app.chat.transcript.records) == messages and app.chat.transcript.views,
        )
        await pilot.pause()
        open_ms = (time.perf_counter() - started) * 1000
        used = 0.0
        if trace:
            used = (tracemalloc.get_traced_memory()[0] - base) / 1e6
            tracemalloc.stop()
        prompt = app.chat.prompt
        prompt.focus()
        await pilot.pause()
        samples = []
        for i, ch in enumerate("the input stays responsive"):
            t = time.perf_counter()
            app.post_message(events.Key(ch, ch))
            while len(prompt.text) <= i:  # noqa: ASYNC110 - spin to time the key precisely
                await asyncio.sleep(0)
            samples.append((time.perf_counter() - t) * 1000)
        return used, open_ms, statistics.median(samples)


#: Seconds between the chat screen appearing and Enter: typing a short message.
THINK = 3.0


def _on_terminal(repeat: int) -> list[Result]:
    from benchmarks import tui_terminal

    muxi, bare = tui_terminal.starts(repeat)
    start, base = statistics.median(muxi), statistics.median(bare)
    results = [
        Result(
            "tui.start_on_screen",
            round(start),
            "ms",
            None,
            "python -m muxi_cli on a pty until the chat screen is drawn",
        ),
        Result(
            "tui.bare_textual_on_screen",
            round(base),
            "ms",
            None,
            "a bare Textual app (TextArea) the same way, alternating",
        ),
        Result(
            "tui.start_vs_bare_textual",
            round(start / base, 2),
            "x",
            "<= 1.5x",
            "medians of the two above",
        ),
    ]
    cases = {
        "memory_off": "memory off",
        "new_user": "memory on, nothing stored yet",
        "memories": "memory on, one memory stored",
    }
    for case, what in cases.items():
        samples = tui_terminal.first_replies(case, repeat, THINK)
        results.append(
            Result(
                f"tui.first_reply.{case}",
                round(statistics.median(samples)),
                "ms",
                "< 300 ms",
                f"Enter to the reply's first word on screen, sent {THINK:g} s after "
                f"the screen appeared; {what}",
            )
        )
    samples = tui_terminal.first_replies("memory_off", repeat, 0.0)
    results.append(
        Result(
            "tui.first_reply.at_once",
            round(statistics.median(samples)),
            "ms",
            None,
            "the same, Enter as soon as the screen is drawn (memory off)",
        )
    )
    return results


def run(quick: bool) -> list[Result]:
    results = _startup(3 if quick else 7)
    results += _on_terminal(3 if quick else 5)
    with tempfile.TemporaryDirectory() as home:
        old = os.environ.get("MUXI_HOME")
        os.environ["MUXI_HOME"] = home
        try:
            stream_ms, words = asyncio.run(_stream(2000))
            results.append(
                Result(
                    "tui.stream_2000_tokens",
                    round(stream_ms),
                    "ms",
                    None,
                    f"{words} deltas, send to fully rendered",
                )
            )
            _, open_ms, key_ms = asyncio.run(_long_session(500, trace=False))
            used, _, _ = asyncio.run(_long_session(500, trace=True))
            results.append(
                Result(
                    "tui.session_500_messages.memory",
                    round(used, 1),
                    "MB",
                    None,
                    "tracemalloc, app with the session open",
                )
            )
            results.append(
                Result(
                    "tui.session_500_messages.open",
                    round(open_ms),
                    "ms",
                    None,
                    "load and show the last page",
                )
            )
            results.append(
                Result(
                    "tui.keypress_with_500_messages",
                    round(key_ms, 1),
                    "ms",
                    None,
                    "median, key event to character in the input",
                )
            )
        finally:
            if old is None:
                os.environ.pop("MUXI_HOME", None)
            else:
                os.environ["MUXI_HOME"] = old
    return results


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):
        print(result)
