"""Typed errors: the class follows the server's code first, the status second;
real refusals of a real ``muxi serve``; retries honour ``Retry-After``."""

from __future__ import annotations

import json

import pytest

from muxi_cli.client import AsyncClient, errors
from muxi_cli.errors import MuxiError
from tests.client.conftest import Served
from tests.fakellm import Text
from tests.net import free_port


def body(code: str, **extra: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": "m", "hint": "h", **extra}}).encode()


@pytest.mark.parametrize(
    ("status", "code", "klass"),
    [
        (400, "usage_error", errors.BadRequest),
        (422, "bad_media", errors.BadRequest),
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Forbidden),
        (403, "missing_scope", errors.MissingScope),
        (404, "not_found", errors.NotFound),
        (413, "media_too_large", errors.PayloadTooLarge),
        (413, "payload_too_large", errors.PayloadTooLarge),
        (429, "rate_limited", errors.RateLimited),
        (503, "shutting_down", errors.Unavailable),
        (400, "unsupported_api_version", errors.UnsupportedApiVersion),
        (404, "unsupported_api_version", errors.UnsupportedApiVersion),
        (500, "internal_error", errors.ApiError),
        # The code wins over the status: what the server meant, not how it was carried.
        (400, "not_found", errors.NotFound),
    ],
)
def test_the_class_follows_the_code(status: int, code: str, klass: type[errors.ApiError]) -> None:
    err = errors.from_answer(status, body(code), {"retry-after": "3"})
    assert type(err) is klass
    assert (err.status, err.code, err.message, err.hint, err.retry_after) == (
        status,
        code,
        "m",
        "h",
        3.0,
    )
    assert isinstance(err, MuxiError) and isinstance(err, errors.ApiError)


@pytest.mark.parametrize(
    ("status", "klass"),
    [
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (413, errors.PayloadTooLarge),
        (429, errors.RateLimited),
        (502, errors.ApiError),
        (503, errors.Unavailable),
    ],
)
def test_a_bare_answer_follows_the_status(status: int, klass: type[errors.ApiError]) -> None:
    """A proxy's own answer (no muxi body) still gets its class."""
    err = errors.from_answer(status, b"<html>nope</html>", {})
    assert type(err) is klass and err.status == status and err.retry_after is None


def test_missing_scope_names_the_scope() -> None:
    err = errors.from_answer(403, body("missing_scope", scope="admin"))
    assert isinstance(err, errors.Forbidden) and err.scope == "admin"


async def test_a_bad_key_is_401(served: Served) -> None:
    async with AsyncClient(served.url, "muxi_not_a_real_key") as c:
        with pytest.raises(errors.Unauthorized) as caught:
            await c.me()
        assert (caught.value.status, caught.value.code) == (401, "unauthorized")
        for transport in ("sse", "ws"):
            with pytest.raises(errors.Unauthorized):
                await c.chat("hi", transport=transport)


async def test_a_missing_scope_refuses_the_turn(served: Served, admin: AsyncClient) -> None:
    made = await admin.keys.create(user_id="dora", scopes=["agent:assistant"])
    async with AsyncClient(served.url, made["key"]) as c:
        for transport in ("sse", "ws"):
            with pytest.raises(errors.MissingScope) as caught:
                await c.chat("hi", system="be terse", transport=transport)
            assert (caught.value.code, caught.value.scope) == ("missing_scope", "system")
            assert caught.value.status == 403


async def test_bad_requests_and_unknown_ids(client: AsyncClient, admin: AsyncClient) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        await admin.keys.create(role="boss", user_id="x")  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code) == (400, "usage_error")
    with pytest.raises(errors.NotFound):
        await client.memory.forget("mem_nope")
    with pytest.raises(errors.NotFound):
        await client.media.download("0" * 64)


async def test_rate_limited_then_retried_after_the_wait(served: Served, admin: AsyncClient) -> None:
    """A GET that meets 429 is tried again after Retry-After; without retries the
    caller gets RateLimited with the wait the server asked for."""
    made = await admin.keys.create(user_id="rita")
    async with (
        AsyncClient(served.url, made["key"], retries=0) as hasty,
        AsyncClient(served.url, made["key"]) as patient,
    ):
        with pytest.raises(errors.RateLimited) as caught:
            for _ in range(400):  # the burst is 60 requests
                await hasty.me()
        assert caught.value.status == 429 and caught.value.code == "rate_limited"
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
        assert (await patient.me())["user_id"] == "rita"


async def test_no_server_is_connection_failed(served: Served) -> None:
    async with AsyncClient(f"http://127.0.0.1:{free_port()}", "muxi_x", retries=1) as c:
        with pytest.raises(errors.ConnectionFailed) as caught:
            await c.me()
        assert (caught.value.status, caught.value.code) == (0, "connection_failed")
        with pytest.raises(errors.ConnectionFailed):
            await c.chat("hi")


async def test_a_turn_that_fails_is_a_result_not_an_exception(
    client: AsyncClient, served: Served
) -> None:
    served.llm.script(Text("fine"))
    result = await (await client.chat("hi", agent="no-such-agent"))
    assert result.status == "failed" and result.error is not None
    assert result.error["code"]


def test_errors_of_websocket_frames_get_their_status() -> None:
    """A WebSocket error frame has no HTTP status: the class's own is used."""
    for code, klass, status in [
        ("shutting_down", errors.Unavailable, 503),
        ("unsupported_api_version", errors.UnsupportedApiVersion, 400),
        ("unauthorized", errors.Unauthorized, 401),
        ("missing_scope", errors.MissingScope, 403),
        ("rate_limited", errors.RateLimited, 429),
        ("connection_failed", errors.ConnectionFailed, 0),
        ("something_new", errors.ApiError, 500),
    ]:
        err = errors.from_muxi(MuxiError.from_dict({"code": code, "message": "m"}))
        assert (type(err), err.status, err.code) == (klass, status, code)
