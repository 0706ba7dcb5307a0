"""What one chat turn costs on top of the model call itself.

Against a local fake LLM server (``tests/fakellm.py``, answering at once):

- one-shot ``muxi chat "hi" --output text`` in a fresh process, vs a bare
  ``python -c`` script making the same single call with the openai SDK;
- in one process: ``LocalRuntime.chat`` for one turn vs the bare SDK call,
  and muxi's provider layer (``OpenAIProvider.stream``) vs the bare SDK call.

Target: muxi adds under 10 ms per turn beyond process start. The formation
used disables long-term memory, so the figures are the chat path itself.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.common import PYTHON, ROOT, Result, median_ms

TARGET = "< 10 ms over the bare SDK"
FORMATION_EXTRA = """\
agents:
  - name: assistant
    memory:
      enabled: false
"""

BARE_SCRIPT = """\
import sys, openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-fake", max_retries=0)
stream = client.chat.completions.create(
    model="fake-model", messages=[{"role": "user", "content": "hi"}],
    stream=True, stream_options={"include_usage": True},
)
text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
assert text == "ok", text
"""


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_BASE_URL",
        "MUXI_PROFILE",
    ):
        env.pop(name, None)
    env.update(
        MUXI_HOME=str(home),
        MUXI_NO_OLLAMA_PROBE="1",
        MUXI_CONFIG=str(home.parent / "muxi.yaml"),
        LANCEDB_LOG="error",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
    )
    return env


def _cli_turn(cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "muxi_cli", "chat", "hi", "--output", "text"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 or "ok" not in done.stdout:
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"muxi chat failed (exit {done.returncode}): {tail[0]}")


def _bare_turn(cwd: Path, env: dict[str, str], base_url: str) -> None:
    subprocess.run(
        [PYTHON, "-c", BARE_SCRIPT, base_url],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


async def _amedian_ms(fn: Callable[[], Awaitable[Any]], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def _sdk_figures(base_url: str, repeat: int) -> dict[str, float]:
    """Median ms of a bare SDK call and of the same call through muxi's provider layer."""
    import openai

    from muxi_cli.llm.base import LLMRequest, Message
    from muxi_cli.llm.openai_provider import OpenAIProvider

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-fake", max_retries=0)
    provider = OpenAIProvider("openai", api_key="sk-fake", base_url=base_url)

    async def bare() -> None:
        stream = await client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for _ in stream:
            pass

    async def layer() -> None:
        async for _ in provider.stream(
            LLMRequest(model="fake-model", messages=[Message("user", "hi")])
        ):
            pass

    try:
        return {"bare": await _amedian_ms(bare, repeat), "layer": await _amedian_ms(layer, repeat)}
    finally:
        await provider.aclose()
        await client.close()


async def _runtime_turn_ms(formation: Path, repeat: int) -> float:
    """Median ms of one whole ``LocalRuntime.chat`` turn."""
    from muxi_cli.protocol.events import RunCompleted, RunFailed
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.runtime.local import LocalRuntime

    runtime = await LocalRuntime.open(config_path=formation, start_tools=False)

    async def turn() -> None:
        text = ""
        async for event in (await runtime.chat(ChatRequest(message="hi"))).events():
            if isinstance(event, RunFailed):
                raise RuntimeError(f"turn failed: {event.error}")
            if isinstance(event, RunCompleted):
                text = event.text
        if text != "ok":
            raise RuntimeError(f"unexpected reply {text!r}")

    try:
        return await _amedian_ms(turn, repeat)
    finally:
        await runtime.aclose()


def _failed(name: str, exc: BaseException) -> Result:
    return Result(name, "FAILED", "", note=f"{type(exc).__name__}: {exc}"[:200])


def run(quick: bool) -> list[Result]:
    from tests.fakellm import FakeLLM

    cli_repeat = 3 if quick else 10
    inproc_repeat = 10 if quick else 50
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="muxi-bench-turn-") as tmp, FakeLLM() as fake:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        formation = fake.write_formation(
            work, provider="openai", model="fake-model", extra=FORMATION_EXTRA
        )
        env = _env(home)
        note = f"median of {cli_repeat}"

        _bare_turn(work, env, fake.openai_base_url)  # warm the OS caches
        bare = median_ms(lambda: _bare_turn(work, env, fake.openai_base_url), cli_repeat)
        results.append(
            Result("turn: bare openai SDK script (process)", round(bare, 1), "ms", note=note)
        )
        try:
            _cli_turn(work, env)  # warm up, and fail early with a clear message
            cli = median_ms(lambda: _cli_turn(work, env), cli_repeat)
            results += [
                Result("turn: muxi chat one-shot (process)", round(cli, 1), "ms", note=note),
                Result(
                    "turn: muxi chat minus bare script",
                    round(cli - bare, 1),
                    "ms",
                    note="CLI + runtime start + turn",
                ),
            ]
        except Exception as exc:
            results.append(_failed("turn: muxi chat one-shot (process)", exc))

        saved = {k: os.environ.get(k) for k in ("MUXI_HOME", "MUXI_NO_OLLAMA_PROBE", "LANCEDB_LOG")}
        os.environ.update(MUXI_HOME=str(home), MUXI_NO_OLLAMA_PROBE="1", LANCEDB_LOG="error")
        try:
            sdk = asyncio.run(_sdk_figures(fake.openai_base_url, inproc_repeat))
            note = f"median of {inproc_repeat}, in one process"
            results += [
                Result("turn: bare SDK call (in-process)", round(sdk["bare"], 2), "ms", note=note),
                Result(
                    "turn: llm provider layer overhead",
                    round(sdk["layer"] - sdk["bare"], 2),
                    "ms",
                    target="< 1 ms",
                    note="OpenAIProvider.stream minus bare SDK call",
                ),
            ]
            try:
                turn = asyncio.run(_runtime_turn_ms(formation, inproc_repeat))
                results += [
                    Result("turn: LocalRuntime.chat (in-process)", round(turn, 2), "ms", note=note),
                    Result(
                        "turn: muxi overhead per turn",
                        round(turn - sdk["bare"], 2),
                        "ms",
                        target=TARGET,
                        note="LocalRuntime.chat minus bare SDK call",
                    ),
                ]
            except Exception as exc:
                results.append(_failed("turn: LocalRuntime.chat (in-process)", exc))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return results
