"""The WebSocket client decodes event frames with the one codec: a malformed
event frame is skipped with a notice, an unknown type passes through."""

from __future__ import annotations

import json
from typing import Any

from muxi_cli.protocol.events import EventFactory, RunCompleted, TextDelta, UnknownEvent
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote_ws import WebSocketTurns


async def test_a_malformed_event_frame_is_skipped_with_a_notice() -> None:
    from websockets.asyncio.server import serve

    f = EventFactory("s_1", "run_1")
    frames: list[dict[str, Any]] = [
        f.run_started("assistant", "alice").to_dict(),
        {**f.usage("m", 1, 2, None).to_dict(), "input_tokens": "lots"},  # not a number
        {"v": 3, "type": "image.generated", "run_id": "run_1", "session_id": "s_1", "url": "x"},
        f.text_delta("hello").to_dict(),
        f.run_completed("hello").to_dict(),
        {"type": "done", "run_id": "run_1", "session_id": "s_1"},
    ]

    async def handler(ws: Any) -> None:
        await ws.send(json.dumps({"type": "ready", "user_id": "alice"}))
        async for raw in ws:
            if json.loads(raw).get("type") == "chat":
                for frame in frames:
                    await ws.send(json.dumps(frame))

    notes: list[str] = []
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        turns = WebSocketTurns(f"http://127.0.0.1:{port}", "test", dict, notes.append, 1)
        try:
            async with await turns.chat(ChatRequest(message="hi"), {"message": "hi"}) as turn:
                got = [e async for e in turn.events()]
        finally:
            if turns.ws is not None:
                await turns.ws.close()
    assert [e.type for e in got] == [
        "run.started",
        "image.generated",
        "text.delta",
        "run.completed",
    ]
    assert isinstance(got[1], UnknownEvent) and got[1].data["url"] == "x"
    assert isinstance(got[2], TextDelta) and isinstance(got[3], RunCompleted)
    assert len(notes) == 1 and "skipped an event" in notes[0] and "input_tokens" in notes[0]
