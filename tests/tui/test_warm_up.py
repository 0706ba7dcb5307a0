"""The chat app loads what the first turn needs while the user types (Runtime.prepare).

Over the real LocalRuntime and the fake LLM server. A keyring that answers
slowly off the event loop (as a locked desktop keychain does) holds the warm-up
at the provider's key lookup, so a message can be sent while it runs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import keyring
import pytest

from muxi_cli.runtime.local import LocalRuntime
from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.model import ErrorRecord, ReplyRecord
from tests.fakellm import FakeLLM, Text
from tests.keyring_backend import MemoryKeyring
from tests.tui.conftest import SIZE, idle, make_app, ready, send, until
from tests.tui.fake_runtime import FakeRuntime

NO_MEMORY = """
agents:
  - name: assistant
    memory: {enabled: false}
"""

HASHED_MEMORY = """
memory:
  embedding: hash
"""

#: What the limits probe of a local model server asks first (providers/local.py).
PROBE = "/props"


class SlowKeyring(MemoryKeyring):
    """Answers at once on the event loop's thread; from any other thread only once
    :attr:`gate` is set (``entered`` says a reader is waiting)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.reads_off_loop = 0

    def get_password(self, service: str, username: str) -> str | None:
        if threading.current_thread() is not threading.main_thread():
            self.reads_off_loop += 1
            self.entered.set()
            self.gate.wait(30)
        return super().get_password(service, username)


def local_app(path: Path) -> MuxiApp:
    async def factory():  # type: ignore[no-untyped-def]
        from muxi_cli.runtime.factory import open_runtime

        return await open_runtime(profile="local", config_path=str(path))

    return MuxiApp(factory, cursor_blink=False, config_path=str(path))


def formation(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "muxi.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def replies(app: MuxiApp) -> list[ReplyRecord]:
    return [r for r in app.chat.transcript.records if isinstance(r, ReplyRecord)]


def errors_shown(app: MuxiApp) -> list[Any]:
    """Error records in the transcript and error notifications."""
    records = [r for r in app.chat.transcript.records if isinstance(r, ErrorRecord)]
    notes = [n for n in app._notifications if n.severity == "error"]
    return records + notes


def local_runtime(app: MuxiApp) -> LocalRuntime:
    runtime = app.runtime
    assert isinstance(runtime, LocalRuntime)
    return runtime


def default_provider(runtime: LocalRuntime) -> Any:
    models = runtime.models
    return models.resolve(models.model_for(runtime.formation.default))[0]


async def warmed(pilot: Any, runtime: LocalRuntime) -> None:
    await until(
        pilot,
        lambda: runtime._warming is not None and runtime._warming.done(),
        "the warm-up to finish",
        30,
    )


async def test_the_app_asks_once_for_a_warm_up() -> None:
    fake = FakeRuntime()
    async with make_app(fake).run_test(size=SIZE) as pilot:
        await ready(pilot)
        await until(pilot, lambda: fake.prepared == 1, "the warm-up")
        await send(pilot, "hello")
        await idle(pilot)
        assert fake.prepared == 1


async def test_no_warm_up_without_a_model() -> None:
    """The setup screen is declined: there is nothing to warm up (and no noise)."""
    fake = FakeRuntime(model=None)
    app = make_app(fake, offer_setup=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.pause()
        assert fake.prepared == 0


async def test_the_warm_up_runs_once_and_the_first_turn_uses_it(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    path = formation(tmp_path, fake_llm.formation_yaml(extra=NO_MEMORY))
    fake_llm.script(Text("Warm and ready."))
    async with local_app(path).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        runtime = local_runtime(app)
        await warmed(pilot, runtime)
        provider = default_provider(runtime)
        client = provider._client
        assert client is not None, "the warm-up built the provider's client"
        assert fake_llm.gets.count(PROBE) == 1, "the warm-up asked the local server's limits"
        await runtime.prepare()  # again: nothing more is done
        assert fake_llm.gets.count(PROBE) == 1
        assert fake_llm.requests == []  # a warm-up never calls the model

        await send(pilot, "hi")
        await idle(pilot)
        reply = replies(app)[-1]
        assert reply.state == "done", reply.error
        assert reply.text == "Warm and ready."
        assert default_provider(runtime) is provider
        assert provider._client is client, "the first turn used the warmed client"
        assert fake_llm.gets.count(PROBE) == 1


async def test_a_message_sent_during_the_warm_up_waits_for_it(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    # No key in muxi.yaml: the provider's key is looked up in the keyring.
    yaml = fake_llm.formation_yaml(extra=NO_MEMORY).replace("    api_key: sk-fake\n", "")
    path = formation(tmp_path, yaml)
    slow = SlowKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(slow)
    fake_llm.script(Text("Worth the wait."))
    try:
        async with local_app(path).run_test(size=SIZE) as pilot:
            app = await ready(pilot)
            await until(pilot, slow.entered.is_set, "the warm-up to reach the keyring")
            await send(pilot, "are you there?")
            await until(pilot, lambda: replies(app), "the reply to start")
            await pilot.pause(0.2)
            assert fake_llm.requests == [], "the turn waits for the warm-up"
            assert replies(app)[-1].state == "waiting"
            slow.gate.set()
            await idle(pilot)
            reply = replies(app)[-1]
            assert reply.state == "done", reply.error
            assert reply.text == "Worth the wait."
            # The provider was built once, by the warm-up: one key lookup off the loop.
            assert slow.reads_off_loop == 1
            assert len(fake_llm.requests) == 1
    finally:
        slow.gate.set()
        keyring.set_keyring(previous)


async def test_a_failed_warm_up_shows_nothing_and_the_first_turn_reports_it(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """Anthropic's model with no Anthropic key: the warm-up fails when it builds the
    provider; the screen stays clean until the user sends, then the turn says why."""
    yaml = fake_llm.formation_yaml(extra=NO_MEMORY).replace(
        "default_model: openai/fake-model", "default_model: anthropic/claude-sonnet-4-5"
    )
    path = formation(tmp_path, yaml)
    async with local_app(path).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        runtime = local_runtime(app)
        await warmed(pilot, runtime)
        assert runtime._warming is not None and runtime._warming.exception() is not None
        await pilot.pause()
        assert errors_shown(app) == []
        await send(pilot, "hello?")
        await idle(pilot)
        reply = replies(app)[-1]
        assert reply.state == "failed" and reply.error is not None
        assert reply.error.code == "no_provider"
        assert "no API key for anthropic" in reply.error.message
        assert fake_llm.requests == []


async def test_no_memories_no_memory_store(fake_llm: FakeLLM, tmp_path: Path) -> None:
    """With memory on but nothing stored, the warm-up leaves the store alone."""
    path = formation(tmp_path, fake_llm.formation_yaml(extra=HASHED_MEMORY))
    async with local_app(path).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        runtime = local_runtime(app)
        await warmed(pilot, runtime)
        assert runtime._warming is not None and runtime._warming.exception() is None
        assert runtime.memory._store is None  # type: ignore[attr-defined]


@pytest.mark.slow
async def test_with_memories_the_warm_up_opens_the_store(fake_llm: FakeLLM, tmp_path: Path) -> None:
    path = formation(tmp_path, fake_llm.formation_yaml(extra=HASHED_MEMORY))
    earlier = await LocalRuntime.open(path, start_tools=False)
    try:
        await earlier.memory_add("The user's cat is called Miso.")
    finally:
        await earlier.aclose()
    fake_llm.script(Text("Miso says hi."))
    async with local_app(path).run_test(size=SIZE) as pilot:
        app = await ready(pilot)
        runtime = local_runtime(app)
        await warmed(pilot, runtime)
        assert runtime._warming is not None and runtime._warming.exception() is None
        store = runtime.memory._store  # type: ignore[attr-defined]
        assert store is not None, "the warm-up opened the memory store"
        await send(pilot, "what is my cat called?")
        await idle(pilot)
        reply = replies(app)[-1]
        assert reply.state == "done", reply.error
        assert [m["text"] for m in reply.memories] == ["The user's cat is called Miso."]
        assert runtime.memory._store is store  # type: ignore[attr-defined]
