"""Faults found by attacking the Python client, each held by one test against a
real ``muxi serve`` (tests/client/conftest.py)."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings

import pytest

from muxi_cli.client import AsyncClient, Client, errors
from tests.client.conftest import Served
from tests.fakellm import Slow


async def test_result_returns_when_the_reading_task_is_cancelled(
    client: AsyncClient, served: Served
) -> None:
    """result() in one task waits for another task's reader; a reader cancelled
    mid-turn (a timeout, a Ctrl-C in a notebook) must not leave it waiting forever."""
    served.llm.script(Slow("one two three four five six", delay=0.3))
    turn = await client.chat("hi")
    first = asyncio.Event()

    async def read() -> None:
        async for _event in turn:
            first.set()

    reader = asyncio.create_task(read())
    await first.wait()
    waiter = asyncio.create_task(turn.result())
    await asyncio.sleep(0)  # the waiter is now waiting for the reader
    reader.cancel()
    result = await asyncio.wait_for(waiter, 20)
    assert result.run_id == turn.run_id
    await turn.aclose()


def test_close_in_one_thread_ends_a_call_waiting_in_another(served: Served) -> None:
    """Closing a blocking Client stopped its loop under a thread still iterating
    a turn, which then waited forever; now that thread gets a RuntimeError."""
    served.llm.reset()
    served.llm.script(Slow("one two three four five six seven eight", delay=0.5))
    client = Client(served.url, served.user_key)
    turn = client.chat("hi")
    first = threading.Event()
    outcome: list[BaseException | str] = []

    def read() -> None:
        try:
            for _event in turn:
                first.set()
            outcome.append("ended")
        except BaseException as exc:
            outcome.append(exc)
        finally:
            first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first.wait(20)
    client.close()
    reader.join(20)
    assert not reader.is_alive(), "the reading thread still waits on a closed client"
    assert isinstance(outcome[0], RuntimeError) and "closed" in str(outcome[0])
    client.close()  # twice: nothing


def test_a_dropped_client_closes_its_connections(served: Served) -> None:
    """A Client dropped without close() stopped its thread but left its sockets
    open until the garbage collector found them (unclosed-transport warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        client = Client(served.url, served.user_key)
        assert client.me()["user_id"] == "alice"
        del client
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not unclosed, unclosed


async def test_a_dot_id_names_no_other_route(client: AsyncClient) -> None:
    """An id of ``.`` or ``..`` (caller input) was resolved as a path step:
    ``memory.get(".")`` read ``/v1/memory`` (the whole list, then failed to make
    a dict of it) and ``sessions.get("..")`` read ``/v1``. Each is an id that
    does not exist."""
    with pytest.raises(errors.NotFound):
        await client.memory.get(".")
    with pytest.raises(errors.NotFound):
        await client.sessions.get("..")
    with pytest.raises(errors.NotFound):
        await client.media.info("..")


@pytest.mark.parametrize(
    "url", ["", "ftp://host", "127.0.0.1:8765", "http://[::1", "http://h:99999"]
)
def test_a_url_no_request_can_use_is_refused_at_once(url: str) -> None:
    """A bad scheme was retried as a connection failure (ConnectionFailed after
    seconds) and a malformed URL raised the HTTP library's own InvalidURL at the
    first call; the blocking client also left its thread running."""
    threads = threading.active_count()
    with pytest.raises(ValueError, match="not a muxi server URL"):
        AsyncClient(url, "muxi_x")
    with pytest.raises(ValueError, match="not a muxi server URL"):
        Client(url, "muxi_x")
    assert threading.active_count() == threads


def test_a_second_event_loop_is_told_clearly(served: Served) -> None:
    """A script calling ``asyncio.run`` twice with one AsyncClient got the HTTP
    library's bare "Event loop is closed"; now the error says what to do.
    ``aclose`` works from the new loop too, and the client is then closed."""
    client = AsyncClient(served.url, served.user_key)
    assert asyncio.run(client.me())["user_id"] == "alice"
    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(client.me())
    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(client.chat("hi"))

    async def closed_here() -> None:
        await client.aclose()
        with pytest.raises(errors.ClientClosed):
            await client.me()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the first loop's sockets, dropped
        asyncio.run(closed_here())
