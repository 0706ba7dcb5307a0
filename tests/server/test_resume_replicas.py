"""Two real `muxi serve` replicas sharing one data folder: a stream cut from the
replica running the turn is resumed through the other, from the shared event log."""

from __future__ import annotations

from pathlib import Path

from muxi_cli.protocol.events import Event
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.runtime.remote_sse import SSETurn
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Slow
from tests.server.cutproxy import cut_proxy
from tests.server.serveproc import ServeProcess


async def test_a_stream_cut_from_one_replica_is_resumed_through_another(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    config = fake_llm.write_formation(tmp_path)
    _, key = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    words = " ".join(f"w{i}" for i in range(12))
    fake_llm.script(Slow(words, delay=0.15))
    with ServeProcess(home, config) as a, ServeProcess(home, config) as b:
        async with cut_proxy(a.port) as lb:
            rt = RemoteRuntime(lb.url, key, label="lb", on_notice=lambda _m: None)
            try:
                turn = await rt.chat(ChatRequest(message="count"))
                events: list[Event] = []
                async for event in turn.events():
                    events.append(event)
                    if event.type == "text.delta" and not lb.cuts:
                        lb.target_port = b.port  # the balancer now sends everyone to b
                        lb.cut()
                assert events[-1].type == "run.completed", events[-1]
                assert events[-1].text == words  # type: ignore[attr-defined]
                text = "".join(e.text for e in events if e.type == "text.delta")  # type: ignore[attr-defined]
                assert text == words
                assert isinstance(turn, SSETurn) and turn.resumed >= 1
                # b reads the session a wrote: the reply is whole and complete.
                msgs = await rt.messages(turn.session_id)
                assert msgs[-1].content == words and msgs[-1].status == "complete"
            finally:
                await rt.aclose()
        assert len(fake_llm.requests) == 1  # only a ran the turn
