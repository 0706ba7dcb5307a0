"""A closed client stays closed: every call raises ``ClientClosed``.

Before, ``aclose()`` only dropped the connection pool and the next call
opened a new one behind the caller's back (a client closed by one part of a
program went on working for another, with sockets nobody would close).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from muxi_cli.client import AsyncClient, Client, errors
from muxi_cli.protocol import events as ev
from tests.client.conftest import Served
from tests.fakellm import Slow, Text


async def test_every_call_after_aclose_raises_client_closed(served: Served) -> None:
    client = AsyncClient(served.url, served.user_key)
    assert (await client.me())["user_id"] == "alice"
    await client.aclose()
    calls = (
        client.me,
        client.health,
        client.sessions.list,
        lambda: client.memory.search("x"),
        lambda: client.media.upload(b"x", name="x.txt"),
        lambda: client.chat("hi"),
        lambda: client.chat("hi", transport="ws"),
        lambda: client.mcp.login_status("secure"),
    )
    for call in calls:
        with pytest.raises(errors.ClientClosed) as caught:
            await call()
        assert isinstance(caught.value, errors.ApiError)
        assert caught.value.code == "client_closed" and caught.value.status == 0
    server = client._rt._server
    assert server._client is None and server._unix is None, "a new pool was opened"
    assert client._rt._ws_turns.ws is None
    await client.aclose()  # again: nothing


async def test_a_turn_running_when_the_client_closes_is_closed_with_it(
    served: Served,
) -> None:
    """A turn still streaming when its client closed tried to resume its broken
    stream, opening a new pool; now it is cancelled on the server, reading it
    raises ClientClosed, and nothing is reopened."""
    served.llm.script(Slow("one two three four five six seven eight", delay=0.3))
    client = AsyncClient(served.url, served.user_key)
    turn = await client.chat("slowly")
    async for event in turn:
        if isinstance(event, ev.TextDelta):
            break
    await client.aclose()
    with pytest.raises(errors.ClientClosed):
        await anext(turn)
    with pytest.raises(errors.ClientClosed):
        await turn.result()
    with pytest.raises(errors.ClientClosed):
        await turn.cancel()
    assert client._rt._server._client is None, "the turn reopened a pool"
    await turn.aclose()  # closing it again is fine
    # The server heard the cancel: the run ended cancelled.
    async with AsyncClient(served.url, served.user_key) as other:
        events = [e async for e in other.runs.events(turn.run_id)]
    assert isinstance(events[-1], ev.RunFailed)
    assert events[-1].error["code"] == "cancelled"


async def test_a_finished_turn_keeps_its_result_after_close(served: Served) -> None:
    served.llm.script(Text("done already"))
    client = AsyncClient(served.url, served.user_key)
    turn = await client.chat("hi")
    assert (await turn).reply == "done already"
    await client.aclose()
    assert (await turn.result()).reply == "done already"  # nothing to fetch


def test_the_blocking_client_raises_the_same(served: Served) -> None:
    c = Client(served.url, served.user_key)
    assert c.me()["user_id"] == "alice"
    c.close()
    for call in (c.me, c.sessions.list, lambda: c.chat("hi"), lambda: c.mcp.servers()):
        with pytest.raises(errors.ClientClosed):
            call()
    with pytest.raises(RuntimeError, match="closed"):  # what it raised before: still caught
        c.me()
    assert c.aio._t.closed


@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_a_turn_the_server_took_while_the_client_closed_goes_with_it(
    served: Served, transport: str
) -> None:
    """``aclose()`` while a ``chat()`` waited for the server to take its turn:
    the turn came back after the close, live, on a closed client (its stream
    left open, the turn never cancelled). Now ``chat()`` raises ClientClosed
    and the turn is cancelled on the server with the client's other turns."""
    served.llm.script(Slow("one two three four five six seven eight", delay=0.3))
    client = AsyncClient(served.url, served.user_key)
    started: list[str] = []
    closing: list[asyncio.Task[None]] = []
    real = client._chat_ws if transport == "ws" else client._chat_sse

    async def taken_then_closed(request: Any) -> Any:
        inner = await real(request)
        started.append(inner.run_id)
        # Another task closes the client while this start's answer is on its way.
        closing.append(asyncio.create_task(client.aclose()))
        await asyncio.sleep(0)  # the close runs up to its first wait
        assert client._t.closed
        return inner

    setattr(client, f"_chat_{transport}", taken_then_closed)
    with pytest.raises(errors.ClientClosed):
        await client.chat("slowly", transport=transport)  # type: ignore[arg-type]
    await asyncio.wait_for(closing[0], 10)
    assert started, "the server never took the turn"
    async with AsyncClient(served.url, served.user_key) as other:
        events = [e async for e in other.runs.events(started[0])]
    assert isinstance(events[-1], ev.RunFailed)
    assert events[-1].error["code"] == "cancelled"
