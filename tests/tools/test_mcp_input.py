"""Routing an MCP server's input request to the calling turn (tools/mcp_input.py)."""

from __future__ import annotations

import asyncio

import pytest

from muxi_cli.errors import UsageError
from muxi_cli.tools.mcp_input import CURRENT_INPUT, ElicitAnswer, InFlight, check_answer


class Channel:
    async def elicit(self, request):  # type: ignore[no-untyped-def]
        return ElicitAnswer("decline")

    async def sample(self, request):  # type: ignore[no-untyped-def]
        raise NotImplementedError


async def test_the_context_wins_else_the_one_caller_else_nobody() -> None:
    inflight = InFlight()
    a, b = Channel(), Channel()
    assert inflight.channel() is None  # nobody calls: declined by the callback

    async def call(channel: Channel, entered: asyncio.Event, leave: asyncio.Event) -> None:
        CURRENT_INPUT.set(channel)
        with inflight.call():
            entered.set()
            await leave.wait()

    leave = asyncio.Event()
    entered_a, entered_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(call(a, entered_a, leave))
    await entered_a.wait()
    # A request on the session's reader task (older protocols) has no context:
    assert inflight.channel() is a
    task_b = asyncio.create_task(call(b, entered_b, leave))
    await entered_b.wait()
    assert inflight.channel() is None  # two turns: never guess whose it is
    token = CURRENT_INPUT.set(b)
    assert inflight.channel() is b  # in the caller's own task the context says
    CURRENT_INPUT.reset(token)
    leave.set()
    await asyncio.gather(task_a, task_b)
    assert inflight.channel() is None


async def test_a_request_without_a_turn_never_gets_another_turns_channel() -> None:
    """Bob reads a resource of a shared server (no turn, no channel) while Alice's
    tool call waits on it: a question the server asks in Bob's task is not
    Alice's, and a question from the reader task is nobody's for sure."""
    inflight = InFlight()
    alice = Channel()
    leave = asyncio.Event()
    entered = asyncio.Event()

    async def alices_call() -> None:
        CURRENT_INPUT.set(alice)
        with inflight.call():
            entered.set()
            await leave.wait()

    task = asyncio.create_task(alices_call())
    await entered.wait()
    assert inflight.channel() is alice  # older protocols, Alice alone: hers
    seen: list[object] = []

    async def bobs_read() -> None:
        with inflight.call():  # no CURRENT_INPUT: a route's resource read
            seen.append(inflight.channel())  # asked in Bob's own task
            seen.append(await asyncio.create_task(_reader_task_view(inflight)))

    await asyncio.create_task(bobs_read())
    assert seen == [None, None]
    leave.set()
    await task


async def _reader_task_view(inflight: InFlight) -> object:
    """What a request arriving on the SDK's reader task (no caller context) gets."""
    from contextvars import Context

    return Context().run(inflight.channel)


async def test_the_users_time_does_not_count_against_call_timeout() -> None:
    inflight = InFlight()
    channel = Channel()
    CURRENT_INPUT.set(channel)
    async with asyncio.timeout(30) as limit:
        with inflight.call(limit):
            before = limit.when()
            with inflight.user_time(channel):
                assert limit.when() is None
                await asyncio.sleep(0)  # a checkpoint: the paused limit does not fire
            after = limit.when()
    assert before is not None and after is not None and after >= before


def test_answers_are_checked_against_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "party": {"type": "integer"}},
        "required": ["name"],
    }
    assert check_answer("accept", {"name": "A", "party": 2}, schema).content == {
        "name": "A",
        "party": 2,
    }
    assert check_answer("decline", {"ignored": 1}, schema) == ElicitAnswer("decline")
    for action, content, why in (
        ("maybe", None, "unknown elicitation action"),
        ("accept", {}, "required field 'name'"),
        ("accept", {"name": "A", "extra": 1}, "did not ask"),
        ("accept", {"name": "A", "party": True}, "must be of type integer"),
        ("accept", ["A"], "must be an object"),
    ):
        with pytest.raises(UsageError, match=why):
            check_answer(action, content, schema)


async def test_a_hostile_form_is_declined_unasked_and_answers_keep_to_the_choices() -> None:
    from mcp_types import ElicitRequestFormParams, ElicitRequestURLParams

    from muxi_cli.tools.mcp_input_sdk import callbacks

    asked: list[object] = []

    class Asking(Channel):
        async def elicit(self, request):  # type: ignore[no-untyped-def]
            asked.append(request)
            return ElicitAnswer("accept", {})

    elicit = callbacks("evil", InFlight())["elicitation_callback"]
    many = {f"f{i}": {"type": "string"} for i in range(500)}
    hostile = [
        ("Who?", {"type": "object", "properties": {"a": 5}}),
        ("Who?", {"type": "object", "properties": {"a": {"type": "string"}}, "required": 5}),
        ("Who?", {"type": "object", "properties": many}),
        (
            "Who?",
            {"type": "object", "properties": {"a": {"type": "string", "enum": ["x" * 99] * 999}}},
        ),
        ("x" * 1_000_000, {"type": "object", "properties": {}}),
    ]
    token = CURRENT_INPUT.set(Asking())
    try:
        for message, schema in hostile:
            params = ElicitRequestFormParams(message=message, requested_schema=schema)
            result = await elicit(None, params)
            assert result.action == "decline"
        for url in ("javascript:alert(1)", "https://x.example/" + "a" * 5000):
            params = ElicitRequestURLParams(message="Open", url=url, elicitation_id="e1")
            assert (await elicit(None, params)).action == "decline"
        assert asked == []
        fine = ElicitRequestFormParams(
            message="Who?", requested_schema={"type": "object", "properties": {}}
        )
        assert (await elicit(None, fine)).action == "accept" and len(asked) == 1
    finally:
        CURRENT_INPUT.reset(token)

    # An answer from a remote user keeps to the server's choices, and a broken
    # schema is a usage error (400), not a crash of the answer route.
    seat = {"type": "object", "properties": {"seat": {"type": "string", "enum": ["in", "out"]}}}
    with pytest.raises(UsageError, match="one of"):
        check_answer("accept", {"seat": "roof"}, seat)
    assert check_answer("accept", {"seat": "out"}, seat).content == {"seat": "out"}
    with pytest.raises(UsageError):
        check_answer("accept", {"a": "x"}, {"properties": {"a": 5}})


async def test_a_huge_sampling_prompt_is_refused_before_anyone_is_asked() -> None:
    from mcp_types import CreateMessageRequestParams, ErrorData, SamplingMessage, TextContent

    from muxi_cli.tools.mcp_input_sdk import SAMPLING_INPUT_MAX, callbacks

    asked: list[object] = []

    class Sampling(Channel):
        async def sample(self, request):  # type: ignore[no-untyped-def]
            asked.append(request)
            raise AssertionError("must not be asked")

    sample = callbacks("evil", InFlight())["sampling_callback"]
    text = TextContent(type="text", text="x" * (SAMPLING_INPUT_MAX + 1))
    params = CreateMessageRequestParams(
        messages=[SamplingMessage(role="user", content=text)], max_tokens=10
    )
    token = CURRENT_INPUT.set(Sampling())
    try:
        result = await sample(None, params)
    finally:
        CURRENT_INPUT.reset(token)
    assert isinstance(result, ErrorData) and "refused" in result.message
    assert asked == []


async def test_bad_sampling_media_is_refused_before_anyone_is_asked() -> None:
    from mcp_types import (
        CreateMessageRequestParams,
        ErrorData,
        ImageContent,
        SamplingMessage,
        TextContent,
        ToolUseContent,
    )

    from muxi_cli.tools.mcp_input_media import SAMPLING_MEDIA_COUNT_MAX, SAMPLING_MEDIA_MAX
    from muxi_cli.tools.mcp_input_sdk import callbacks

    asked: list[object] = []

    class Sampling(Channel):
        async def sample(self, request):  # type: ignore[no-untyped-def]
            asked.append(request)
            raise AssertionError("must not be asked")

    def image(data: str) -> ImageContent:
        return ImageContent(type="image", data=data, mime_type="image/png")

    huge = "A" * (SAMPLING_MEDIA_MAX * 4 // 3 + 8)  # valid base64, one byte over when decoded
    cases = [
        ([SamplingMessage(role="user", content=image(huge))], "MB are refused"),
        (
            [
                SamplingMessage(
                    role="user", content=[image("AAAA")] * (SAMPLING_MEDIA_COUNT_MAX + 1)
                )
            ],
            f"more than {SAMPLING_MEDIA_COUNT_MAX}",
        ),
        ([SamplingMessage(role="user", content=image("not base64!"))], "not base64"),
        ([SamplingMessage(role="assistant", content=image("AAAA"))], "user messages only"),
        (
            [
                SamplingMessage(
                    role="assistant",
                    content=ToolUseContent(type="tool_use", id="t1", name="x", input={}),
                )
            ],
            "text, images and audio only",
        ),
        (
            [
                SamplingMessage(
                    role="user", content=[TextContent(type="text", text="hi"), image("")]
                )
            ],
            "empty",
        ),
    ]
    sample = callbacks("evil", InFlight())["sampling_callback"]
    token = CURRENT_INPUT.set(Sampling())
    try:
        for messages, why in cases:
            params = CreateMessageRequestParams(messages=messages, max_tokens=10)
            result = await sample(None, params)
            assert isinstance(result, ErrorData) and why in result.message, (why, result)
    finally:
        CURRENT_INPUT.reset(token)
    assert asked == []
