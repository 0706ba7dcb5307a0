"""The event tap sees every event of a local turn, in order, including the
``run.failed`` a cancel produces; a failing observer does not stop the turn."""

from __future__ import annotations

from pathlib import Path

from muxi_cli.protocol.events import Event
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.local import LocalRuntime
from tests.fakellm import FakeLLM, Text


def formation(fake: FakeLLM) -> Path:
    path = Path("muxi.yaml")
    path.write_text(
        "providers:\n"
        f"  fake: {{type: openai, base_url: '{fake.openai_base_url}', api_key: x}}\n"
        "agents:\n  - name: assistant\n    model: fake/fake-model\n"
        "    memory: {long_term: false}\n",
        encoding="utf-8",
    )
    return path


async def test_the_tap_sees_what_the_reader_sees(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script(Text("hello there"))
    runtime = await LocalRuntime.open(formation(fake_llm), sessions_path=tmp_path / "s.db")
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("an observer's bug")

    runtime.tap.add(broken)
    remove = runtime.tap.add(seen.append)
    try:
        turn = await runtime.chat(ChatRequest(message="hi"))
        read = [event async for event in turn.events()]
        assert [e.type for e in seen] == [e.type for e in read]
        assert seen[-1].type == "run.completed"
        remove()
        turn = await runtime.chat(ChatRequest(message="again"))
        _ = [event async for event in turn.events()]
        assert len(seen) == len(read)  # removed: sees no more
    finally:
        await runtime.aclose()
