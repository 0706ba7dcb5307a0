""":class:`Client`: the blocking client, for scripts and notebooks.

It runs an :class:`~muxi_cli.client.AsyncClient` on a private event loop in
a thread of its own and waits for each call. So it works where another loop
already runs in the calling thread (Jupyter, IPython's autoawait, a web
framework's worker), where ``asyncio.run`` would refuse: the caller's loop is
never touched. Everything else (retries, reconnects, errors) is the async
client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import CancelledError, Future
from types import TracebackType
from typing import Any, TypeVar

from muxi_cli.client import sync_groups as blocking
from muxi_cli.client.aclient import AsyncClient, AttachmentLike, Transport_
from muxi_cli.client.errors import ClientClosed
from muxi_cli.client.transport import RETRIES
from muxi_cli.client.turn import ChatTurn, TurnResult
from muxi_cli.protocol.events import Event
from muxi_cli.protocol.records import ApprovalDecision, ApprovalMode

T = TypeVar("T")


class _LoopThread:
    """An event loop running forever in a daemon thread (an unclosed client
    never keeps the interpreter alive)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._closing = False
        self._thread = threading.Thread(target=self._main, name="muxi-client", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a muxi Client was called from its own loop; use AsyncClient there")
        if self._closing or self.loop.is_closed():
            coro.close()
            raise ClientClosed("this muxi Client is closed")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            # Ctrl-C (a notebook's interrupt) stops the call, not just the wait.
            future.cancel()
            raise
        except CancelledError:
            if self._closing:  # close() in another thread ended this call
                raise ClientClosed("this muxi Client was closed while the call waited") from None
            raise

    def iterate(self, source: AsyncIterator[T]) -> Iterator[T]:
        return _SyncIterator(source, self)

    def close(self, last: Callable[[], Awaitable[None]] | None = None) -> None:
        """Cancel the calls still running (a thread waiting for one gets a
        ClientClosed instead of waiting forever on a stopped loop), then run
        ``last`` (the client's ``aclose``: its sockets) and stop the thread."""
        if self._closing or self.loop.is_closed():
            return
        self._closing = True
        if threading.current_thread() is self._thread:
            # Dropped by the loop's own thread (a finalizer run by the garbage
            # collector there): it cannot wait for itself, only stop.
            self.loop.stop()
            return
        if self._thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(_wind_down(last), self.loop)
            with contextlib.suppress(Exception):
                done.result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


async def _wind_down(last: Callable[[], Awaitable[None]] | None) -> None:
    me = asyncio.current_task()
    running = [task for task in asyncio.all_tasks() if task is not me]
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running, timeout=5)
    if last is not None:
        await last()


class _SyncIterator(Iterator[T]):
    """An async iterator of the client's loop, read from the calling thread."""

    def __init__(self, source: AsyncIterator[T], runner: _LoopThread) -> None:
        self._source = source
        self._runner = runner

    def __iter__(self) -> _SyncIterator[T]:
        return self

    def __next__(self) -> T:
        async def step() -> T:
            return await anext(self._source)

        try:
            return self._runner.run(step())
        except StopAsyncIteration:
            raise StopIteration from None


class SyncTurn:
    """A running turn, blocking: iterate it for typed events, :meth:`result` for the summary."""

    def __init__(self, turn: ChatTurn, runner: _LoopThread) -> None:
        self._turn = turn
        self._runner = runner

    @property
    def run_id(self) -> str:
        return self._turn.run_id

    @property
    def session_id(self) -> str:
        return self._turn.session_id

    @property
    def finished(self) -> bool:
        return self._turn.finished

    def __iter__(self) -> Iterator[Event]:
        return _SyncIterator(self._turn, self._runner)

    def result(self) -> TurnResult:
        return self._runner.run(self._turn.result())

    def pending(self) -> list[tuple[str, str]]:
        return self._turn.pending()

    def approve(
        self, call_id: str, decision: ApprovalDecision = "allow", run_id: str | None = None
    ) -> None:
        self._runner.run(self._turn.approve(call_id, decision, run_id))

    def inputs(self) -> list[str]:
        return self._turn.inputs()

    def answer_elicitation(
        self, elicitation_id: str, action: str, content: dict[str, Any] | None = None
    ) -> None:
        self._runner.run(self._turn.answer_elicitation(elicitation_id, action, content))

    def cancel(self) -> None:
        self._runner.run(self._turn.cancel())

    def close(self) -> None:
        self._runner.run(self._turn.aclose())

    def __enter__(self) -> SyncTurn:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SyncTurn(run_id={self.run_id!r}, session_id={self.session_id!r})"


class Client:
    """The blocking client: :class:`AsyncClient`'s calls, each waited for.

    ``with Client(url, key) as c:`` (or :meth:`close`) stops its thread.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None,
        user_id: str | None = None,
        timeout: float = 30.0,
        *,
        retries: int = RETRIES,
        verify: bool | str = True,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        # First: a refused argument must not leave a thread behind.
        self.aio = AsyncClient(
            url,
            api_key,
            user_id,
            timeout,
            retries=retries,
            verify=verify,
            on_notice=on_notice,
        )
        self._runner = _LoopThread()
        # A client dropped unclosed still closes its connections and stops its thread.
        weakref.finalize(self, self._runner.close, self.aio.aclose)
        #: The same groups as :class:`AsyncClient`'s, blocking.
        self.sessions = blocking.Sessions(self.aio.sessions, self._runner)
        self.memory = blocking.Memory(self.aio.memory, self._runner)
        self.media = blocking.Media(self.aio.media, self._runner)
        self.keys = blocking.Keys(self.aio.keys, self._runner)
        self.runs = blocking.Runs(self.aio.runs, self._runner)
        self.mcp = blocking.Mcp(self.aio.mcp, self._runner)

    @property
    def url(self) -> str:
        return self.aio.url

    def chat(
        self,
        message: str,
        agent: str | None = None,
        session_id: str | None = None,
        approval: ApprovalMode = "deny",
        attachments: Sequence[AttachmentLike] | None = None,
        model: str | None = None,
        system: str | None = None,
        title: str | None = None,
        transport: Transport_ = "auto",
        elicit: bool = False,
    ) -> SyncTurn:
        turn = self._runner.run(
            self.aio.chat(
                message,
                agent=agent,
                session_id=session_id,
                approval=approval,
                attachments=attachments,
                model=model,
                system=system,
                title=title,
                transport=transport,
                elicit=elicit,
            )
        )
        return SyncTurn(turn, self._runner)

    def me(self) -> dict[str, Any]:
        return self._runner.run(self.aio.me())

    def health(self) -> dict[str, Any]:
        return self._runner.run(self.aio.health())

    def agents(self) -> list[Any]:
        return self._runner.run(self.aio.agents())

    def close(self) -> None:
        """Close the turns still running, the connections and the thread (again:
        nothing). A call another thread is waiting for raises ClientClosed there,
        and so does any call after this."""
        self._runner.close(self.aio.aclose)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"
