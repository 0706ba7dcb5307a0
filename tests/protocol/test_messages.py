"""The message model: every part round-trips through JSON; text for text-only front ends."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxi_cli.protocol.messages import (
    AudioPart,
    DocumentPart,
    ImagePart,
    MediaRef,
    PartError,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    legacy_parts,
    media_of,
    part_from_dict,
    parts_from_list,
    parts_to_list,
    text_of,
)
from muxi_cli.protocol.records import SessionMessage

REF = MediaRef("ab" * 32, "image/png", 70, "dot.png")
EVERY_PART = [
    TextPart("hello"),
    ImagePart(REF),
    DocumentPart(MediaRef("cd" * 32, "application/pdf", 1234)),
    AudioPart(MediaRef("ef" * 32, "audio/wav", 99, "hi.wav")),
    ToolCallPart("c1", "demo__add", {"a": 1, "b": [2, 3]}),
    ToolResultPart("c1", (TextPart("a pixel"), ImagePart(REF)), is_error=False),
]


@pytest.mark.parametrize("part", EVERY_PART, ids=lambda p: p.type)
def test_every_part_round_trips_through_json(part) -> None:
    data = json.loads(json.dumps(part.to_dict()))
    assert data["type"] == part.type
    assert part_from_dict(data) == part


@given(st.text(), st.text(min_size=1), st.integers(min_value=0, max_value=2**40))
def test_text_and_refs_round_trip(text: str, name: str, size: int) -> None:
    parts = [TextPart(text), ImagePart(MediaRef("0" * 64, "image/jpeg", size, name))]
    assert parts_from_list(json.loads(json.dumps(parts_to_list(parts)))) == parts


def test_session_message_round_trips_its_parts() -> None:
    msg = SessionMessage(7, "s_1", 3, "tool", "a pixel", tool_call_id="c1", parts=EVERY_PART[-1:])
    data = json.loads(json.dumps(msg.to_dict()))
    assert data["parts"][0]["parts"][1]["media"]["id"] == REF.id
    assert SessionMessage.from_dict(data) == msg
    # A client older than parts sends none: the message still reads.
    old = {k: v for k, v in data.items() if k != "parts"}
    assert SessionMessage.from_dict(old).parts == []
    # A newer server's part types are skipped; the text still reads.
    newer = {**data, "parts": [{"type": "hologram"}, {"type": "text", "text": "a pixel"}]}
    assert SessionMessage.from_dict(newer).parts == [TextPart("a pixel")]


def test_text_of_shows_text_and_optionally_placeholders() -> None:
    assert text_of(EVERY_PART) == "hello\n\na pixel"
    shown = text_of(EVERY_PART, placeholders=True)
    assert "[image: dot.png, image/png, 70 bytes]" in shown
    assert "[document: application/pdf, 1234 bytes]" in shown
    assert "demo__add" not in shown
    assert [p.type for p in media_of(EVERY_PART)] == ["image", "document", "audio", "image"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "hologram"}, "unknown part type 'hologram'"),
        ("text", "must be a JSON object"),
        ({"type": "image"}, "needs a media reference"),
        ({"type": "image", "media": {"id": "x"}}, "needs id, media_type and size"),
        (
            {
                "type": "tool_result",
                "parts": [{"type": "tool_call", "id": "c", "name": "n", "media": REF.to_dict()}],
            },
            "not tool_call",
        ),
    ],
)
def test_bad_part_json_is_a_clear_error(data: object, message: str) -> None:
    with pytest.raises(PartError, match=message):
        part_from_dict(data)


def test_legacy_parts_describe_old_rows() -> None:
    assert legacy_parts("user", "hi") == [TextPart("hi")]
    assert legacy_parts("assistant", "", [{"id": "c", "name": "t", "arguments": {"x": 1}}]) == [
        ToolCallPart("c", "t", {"x": 1})
    ]
    assert legacy_parts("tool", "boom", (), "c", is_error=True) == [
        ToolResultPart("c", (TextPart("boom"),), True)
    ]
