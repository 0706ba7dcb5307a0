"""The chat request is defined once: the server's body model derives from
protocol's ChatRequest, without the fields only the server sets."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pytest
from pydantic import ValidationError

from muxi_cli.protocol.records import SERVER_ONLY, ChatRequest, client_fields
from muxi_cli.server.models import CHAT_LIMITS, ChatBody, record_body


def test_the_body_accepts_exactly_the_client_fields_of_chat_request() -> None:
    every = {f.name for f in fields(ChatRequest)}
    server_only = {f.name for f in fields(ChatRequest) if f.metadata.get("server_only")}
    assert server_only == {"approvable", "caller_role"}
    assert set(ChatBody.model_fields) == every - server_only
    assert [f.name for f in client_fields(ChatRequest)] == list(ChatBody.model_fields)


@pytest.mark.parametrize(
    "extra", [{"approvable": ["*"]}, {"caller_role": "admin"}, {"nonsense": 1}]
)
def test_server_only_and_unknown_fields_are_refused(extra: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        ChatBody.model_validate({"message": "hi", **extra})
    assert info.value.errors()[0]["type"] == "extra_forbidden"


def test_defaults_limits_and_attachments_come_through() -> None:
    body = ChatBody.model_validate(
        {"message": "hi", "attachments": [{"name": "a.txt", "content": "x"}]}
    ).request_dict()
    req = ChatRequest.from_dict(body)
    assert req.attachments[0].mime == "text/plain" and req.approval == "deny" and req.stream
    assert req.approvable is None and req.caller_role is None
    for bad in (
        {"message": ""},
        {"message": "hi", "approval": "always"},
        {"message": "hi", "session_id": "../x"},
        {"message": "hi", "attachments": [{"name": "", "content": "x"}]},
        {"message": "hi", "attachments": [{"name": "a", "content": "x", "size": 1}]},
    ):
        with pytest.raises(ValidationError):
            ChatBody.model_validate(bad)


def test_a_field_added_to_the_request_appears_in_the_body() -> None:
    @dataclass(slots=True)
    class Wider(ChatRequest):
        temperature: float | None = None
        tags: list[str] = field(default_factory=list)
        secret: str | None = field(default=None, metadata=SERVER_ONLY)

    body = record_body(Wider, CHAT_LIMITS)
    assert set(body.model_fields) == set(ChatBody.model_fields) | {"temperature", "tags"}
    got = body.model_validate({"message": "hi", "temperature": 0.5}).model_dump()
    assert got["temperature"] == 0.5 and got["tags"] == []
    with pytest.raises(ValidationError):
        body.model_validate({"message": "hi", "secret": "x"})


def test_limits_for_a_field_the_request_lacks_fail_at_import() -> None:
    with pytest.raises(TypeError, match="mesage"):
        record_body(ChatRequest, {"mesage": {"max_length": 1}})
    with pytest.raises(TypeError, match="caller_role"):  # server-only: never in the body
        record_body(ChatRequest, {"caller_role": {"max_length": 1}})
