"""The part both SDK providers share: one client per event loop, the call, closing.

A subclass says how to build its SDK client (:meth:`SDKProvider._new_client`),
how to start a call (:meth:`SDKProvider._create`) and how to turn an answer
into chunks (:meth:`SDKProvider._whole_chunks` for a whole response,
:meth:`SDKProvider._stream_chunks` for a stream of events); retries, the
deadline, error translation and closing the response live here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, ClassVar

from muxi_cli.llm.base import DEFAULT_MAX_TOKENS, Chunk, LLMRequest
from muxi_cli.llm.capabilities import Capabilities
from muxi_cli.llm.common import (
    ErrorContext,
    IncompleteResponse,
    RetryPolicy,
    deadline_for,
    iterate_until,
    open_with_retries,
    translate,
)
from muxi_cli.llm.limits import reply_budget
from muxi_cli.providers.local import context_size
from muxi_cli.threads import run_abandonable

log = logging.getLogger(__name__)


class SDKProvider:
    """An LLM provider backed by an official SDK's async client."""

    #: The provider name and key variable a subclass uses when none is given.
    default_name: ClassVar[str] = ""
    default_env_var: ClassVar[str] = ""

    def __init__(
        self,
        name: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        env_var: str | None = None,
        capabilities: Capabilities | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.name = name or self.default_name
        self.capabilities = capabilities or Capabilities()
        #: The provider's own reply budget (``providers.<name>.max_tokens``).
        self.max_tokens = max_tokens
        #: Context size per model as the server reported it (``None``: unknown).
        self._context: dict[str, int | None] = {}
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        self._api_key = api_key
        self._headers = dict(headers or {})
        self._env_var = env_var or self.default_env_var
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    # -- what a subclass provides -------------------------------------------------

    def _new_client(self) -> Any:
        """A new SDK client (its own retries off: :func:`open_with_retries` retries)."""
        raise NotImplementedError

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _warm_client(self) -> Any:
        """A new client with the parts a call uses loaded (the SDKs import their
        resources on first access); runs in a thread, see :meth:`prepare`."""
        return self._new_client()

    async def _create(self, client: Any, params: dict[str, Any]) -> Any:
        """Start one call: a whole response, or a stream of events."""
        raise NotImplementedError

    def _whole_chunks(self, response: Any) -> list[Chunk]:
        raise NotImplementedError

    def _stream_chunks(self, events: AsyncIterator[Any]) -> AsyncIterator[Chunk]:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------

    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is not loop:
            self._client = None  # its connections belong to another (finished) event loop
        if self._client is None:
            self._client_loop = loop
            self._client = self._new_client()
        return self._client

    def _context_for(self, model: str) -> ErrorContext:
        return ErrorContext(self.name, model, self.base_url, self._env_var, self._api_key)

    def _call_timeout(self, request: LLMRequest) -> float:
        return self.timeout if request.timeout is None else min(self.timeout, request.timeout)

    def _reply_tokens(self, request: LLMRequest) -> int:
        """The reply budget: the request's, the provider's, the preset's, then the
        default, kept within the server's context when it reported one."""

        wanted = (
            request.max_tokens
            or self.max_tokens
            or self.capabilities.max_tokens
            or DEFAULT_MAX_TOKENS
        )
        return reply_budget(wanted, self._context.get(request.model))

    async def _learn_limits(self, model: str) -> None:
        """Ask the server once per model for its context size (local servers only)."""
        if not self.capabilities.probe_limits or not self.base_url or model in self._context:
            return

        self._context[model] = None  # asked once, whatever the answer
        # A short blocking probe (urllib) in a daemon thread: a cancel or an exit never
        # waits for it (asyncio.to_thread's executor threads hold up both).
        self._context[model] = await run_abandonable(
            "model server limits probe", context_size, self.base_url, model, self._headers
        )

    def _fallback_params(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """Params to retry a streamed tool request that came back empty (``None``: no retry)."""
        return None

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        ctx = self._context_for(request.model)
        deadline = deadline_for(request.timeout)
        client = self._get_client()
        await self._learn_limits(request.model)
        if request.stream and not self.capabilities.streaming:
            # The server cannot stream: ask for the whole answer (it still becomes chunks).
            request = replace(request, stream=False)
        params = self._params(request)
        response = await open_with_retries(
            lambda: self._create(client, params), self.retry, ctx, deadline
        )
        if not params.get("stream"):
            for chunk in self._whole(response, ctx):
                yield chunk
            return
        yielded = False
        fallback: dict[str, Any] | None = None
        try:
            async for chunk in self._stream_chunks(iterate_until(response, deadline)):
                yielded = True
                yield chunk
        except IncompleteResponse as exc:
            fallback = self._fallback_params(params) if exc.empty and not yielded else None
            if fallback is None:
                raise translate(exc, ctx) from exc
        except Exception as exc:
            raise translate(exc, ctx) from exc
        finally:
            await _close(response)
        if fallback is not None:
            # The server cannot stream this tool request (llama-cpp-python answers an
            # empty 200): ask again without streaming; later requests skip the stream.
            log.warning(
                "%s answered a streamed tool request with an empty body; "
                "sending tool requests without streaming from now on "
                "(set `preset:` for this provider in muxi.yaml to skip the retry)",
                self.name,
            )
            self.capabilities = _without_stream_tools(self.capabilities)
            response = await open_with_retries(
                lambda: self._create(client, fallback), self.retry, ctx, deadline
            )
            for chunk in self._whole(response, ctx):
                yield chunk

    def _whole(self, response: Any, ctx: ErrorContext) -> list[Chunk]:
        try:
            return self._whole_chunks(response)
        except Exception as exc:
            raise translate(exc, ctx) from exc

    async def prepare(self, model: str | None = None) -> None:
        """Do now what the first call would: build the SDK client (importing the SDK
        in a thread, so the event loop keeps running: ``openai`` takes ~0.5 s) and,
        for ``model`` on a local server, ask its limits. A call made meanwhile keeps
        its own client."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            client = await asyncio.to_thread(self._warm_client)
            if self._client is None or self._client_loop is not loop:
                self._client, self._client_loop = client, loop
            else:
                with contextlib.suppress(Exception):
                    await client.close()
        if model:
            await self._learn_limits(model)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is None or self._client_loop is not asyncio.get_running_loop():
            return  # a client of a finished event loop cannot be closed from this one
        try:
            await client.close()
        except Exception:
            pass


def _without_stream_tools(caps: Capabilities) -> Capabilities:
    return replace(caps, stream_tools=False, explicit_auto=True)


async def _close(response: Any) -> None:
    """Close a streamed response so the server stops generating (never raises)."""
    close = getattr(response, "close", None)
    if close is None:
        return
    try:
        await close()
    except Exception:
        pass
