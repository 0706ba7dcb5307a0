"""The part both SDK providers share: one client per event loop, the call, closing.

A subclass says how to build its SDK client (:meth:`SDKProvider._new_client`),
how to start a call (:meth:`SDKProvider._create`) and how to turn an answer
into chunks (:meth:`SDKProvider._whole_chunks` for a whole response,
:meth:`SDKProvider._stream_chunks` for a stream of events); retries, the
deadline, error translation and closing the response live here once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from muxi_cli.llm.base import Chunk, LLMRequest
from muxi_cli.llm.common import (
    ErrorContext,
    RetryPolicy,
    deadline_for,
    iterate_until,
    open_with_retries,
    translate,
)


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
    ) -> None:
        self.name = name or self.default_name
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

    def _context(self, model: str) -> ErrorContext:
        return ErrorContext(self.name, model, self.base_url, self._env_var, self._api_key)

    def _call_timeout(self, request: LLMRequest) -> float:
        return self.timeout if request.timeout is None else min(self.timeout, request.timeout)

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        ctx = self._context(request.model)
        deadline = deadline_for(request.timeout)
        client = self._get_client()
        params = self._params(request)
        response = await open_with_retries(
            lambda: self._create(client, params), self.retry, ctx, deadline
        )
        if not request.stream:
            try:
                chunks = self._whole_chunks(response)
            except Exception as exc:
                raise translate(exc, ctx) from exc
            for chunk in chunks:
                yield chunk
            return
        try:
            async for chunk in self._stream_chunks(iterate_until(response, deadline)):
                yield chunk
        except Exception as exc:
            raise translate(exc, ctx) from exc
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    pass

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is None or self._client_loop is not asyncio.get_running_loop():
            return  # a client of a finished event loop cannot be closed from this one
        try:
            await client.close()
        except Exception:
            pass
