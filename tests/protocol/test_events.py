"""The event codec: every type round-trips, unknown types pass through, v1 decodes."""

from __future__ import annotations

import json

import pytest

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    AgentRouted,
    EventFactory,
    RunFailed,
    TextDelta,
    UnknownEvent,
    Usage,
    decode,
    encode,
    to_dict,
)


def every_event(f: EventFactory) -> list[ev.Event]:
    return [
        f.run_started("assistant", "alice"),
        f.agent_routed("assistant", "asked the router", "llm", router_model="fake/router"),
        f.memory_recalled([{"id": "m1", "text": "likes tea", "score": 0.9}]),
        f.text_delta("Hello \u00e9\n"),
        f.tool_requested("call_0", "builtin", "calculator", {"expression": "6*7"}),
        f.tool_approval("call_0", "allowed", "policy"),
        f.tool_progress("call_0", 2, 5, "step 2 of 5"),
        f.tool_result("call_0", True, "42", 12),
        f.model_call("fake/model", 840, 210, 10, 5, finish="tool_calls"),
        f.usage("fake/model", 10, 5, 0.0025),
        f.notice("tool_call_as_text", "wrote a tool call as text"),
        f.media_processed("ab" * 32, "scan.pdf", "application/pdf", ["text", "ocr"], {"pages": 3}),
        f.media_failed("cd" * 32, "memo.m4a", "bad_media", "the audio is truncated"),
        f.transcript_delta("hello there", final=True),
        f.audio_delta("SUQz", "audio/mpeg", 0, False),
        f.run_completed("Hello"),
        f.run_failed("provider_error", "boom", "try again"),
    ]


def test_every_known_type_round_trips_as_its_class() -> None:
    events = every_event(EventFactory("s_1"))
    assert {type(e) for e in events} == set(EVENT_TYPES.values())
    for event in events:
        line = encode(event)
        assert "\n" not in line
        back = decode(line)
        assert type(back) is type(event)
        assert back == event
        assert to_dict(back) == json.loads(line)
        assert json.loads(line)["v"] == SCHEMA_VERSION == 2


def test_delegated_events_carry_their_parent_and_depth() -> None:
    f = EventFactory("s_1", parent_run_id="run_parent", depth=2)
    for event in every_event(f):
        obj = event.to_dict()
        assert (obj["parent_run_id"], obj["depth"]) == ("run_parent", 2)
        back = decode(obj)
        assert back.nested and back.parent_run_id == "run_parent" and back.depth == 2
    top = EventFactory("s_1").text_delta("x").to_dict()
    assert "parent_run_id" not in top and "depth" not in top


def test_optional_fields_stay_off_the_wire_until_set() -> None:
    f = EventFactory("s_1")
    routed = f.agent_routed("a", "picked", "explicit").to_dict()
    assert "router_model" not in routed and "failure" not in routed
    usage = f.usage("m", 1, 2, 0.1).to_dict()
    assert "unknown" not in usage
    unknown = f.usage("m", 0, 0, 0.1, unknown=True)
    assert unknown.cost_usd is None and unknown.to_dict()["unknown"] is True


def test_unknown_type_passes_through_whole() -> None:
    obj = {
        "v": 3,
        "type": "image.generated",
        "run_id": "r",
        "session_id": "s",
        "ts": "2026-01-01T00:00:00.000Z",
        "url": "media://x",
        "size": [1, 2],
    }
    event = decode(json.dumps(obj))
    assert isinstance(event, UnknownEvent) and not event.known
    assert event.type == "image.generated" and event.data["url"] == "media://x"
    assert to_dict(event) == obj


def test_unknown_fields_of_a_known_type_are_kept() -> None:
    obj = EventFactory("s").text_delta("hi").to_dict() | {"lang": "en"}
    event = decode(obj)
    assert isinstance(event, TextDelta) and event.text == "hi"
    assert event.to_dict() == obj


def test_a_version_1_object_decodes() -> None:
    # As muxi 0.1 printed them (schema version 1).
    v1 = [
        '{"v":1,"type":"run.started","run_id":"run_a","session_id":"s_a","ts":"t","agent":"assistant","user_id":"local"}',
        '{"v":1,"type":"agent.routed","run_id":"run_a","session_id":"s_a","ts":"t","agent":"assistant","reason":"default","cached":false,"method":"default"}',
        '{"v":1,"type":"usage","run_id":"run_b","session_id":"s_a","ts":"t","model":"m","input_tokens":3,"output_tokens":4,"cost_usd":null,"parent_run_id":"run_a","depth":1}',
        '{"v":1,"type":"run.failed","run_id":"run_a","session_id":"s_a","ts":"t","error":{"code":"forbidden","message":"no","hint":null,"scope":"chat"}}',
    ]
    started, routed, usage, failed = (decode(line) for line in v1)
    assert started.v == 1 and started.run_id == "run_a"
    assert isinstance(routed, AgentRouted) and routed.method == "default"
    assert isinstance(usage, Usage) and usage.nested and usage.output_tokens == 4
    assert usage.cost_usd is None and not usage.unknown
    assert isinstance(failed, RunFailed) and failed.code == "forbidden"
    assert failed.error["scope"] == "chat"  # an error's extra fields survive
    for line in v1:  # and they re-encode to the same object
        assert to_dict(decode(line)) == json.loads(line)


def test_missing_optional_fields_take_defaults() -> None:
    event = decode({"type": "tool.result", "run_id": "r", "call_id": "c", "ok": True})
    assert event == ev.ToolResult(run_id="r", session_id="", ts=event.ts, call_id="c", ok=True)
    nulls = decode(
        {"type": "tool.result", "run_id": "r", "call_id": "c", "ok": True, "content": None}
    )
    assert isinstance(nulls, ev.ToolResult) and nulls.content == ""


@pytest.mark.parametrize(
    "data",
    [
        "[1, 2]",
        '{"type": 3}',
        "not json",
        b'{"run_id": "r"}',
        {"type": "usage", "run_id": "r", "input_tokens": 1},  # no model
        {"type": "usage", "run_id": "r", "model": "m", "input_tokens": "many"},
        {"type": "tool.requested", "run_id": "r", "call_id": "c", "arguments": [1]},
        {"type": "text.delta", "v": "two", "text": "x"},
        {"type": "tool.result", "run_id": "r", "call_id": "c", "ok": "yes"},
        {"type": "text.delta", "run_id": "r", "text": None},  # a required field is null
    ],
)
def test_what_is_not_an_event_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError):
        decode(data)  # type: ignore[arg-type]


def test_bytes_decode_like_text() -> None:
    event = EventFactory("s").notice("n", "careful")
    assert decode(encode(event).encode()) == event


def test_fields_named_like_the_codecs_own_arguments_are_kept() -> None:
    """A wire field called ``type_``, ``run_id``... of a newer peer must not clash
    with from_fields' own parameters (it raised TypeError, which clients do not
    catch, so one odd frame ended the turn)."""
    event = decode(
        {"type": "text.delta", "run_id": "r", "session_id": "s", "text": "x", "type_": 1}
    )
    assert event.type == "text.delta" and event.extra["type_"] == 1
