"""What both SDK providers share: retries, deadlines and error translation.

The SDKs' own retries are switched off (``max_retries=0``); :func:`open_with_retries`
retries 429, 408/409, 5xx and connection errors with exponential backoff and
jitter, honouring ``Retry-After``. Every SDK or transport failure leaves a
provider as a :class:`muxi_cli.errors.MuxiError` subclass with a hint.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from muxi_cli import redact as redaction
from muxi_cli.errors import (
    AuthError,
    ContextTooLongError,
    ModelNotFoundError,
    MuxiError,
    ProviderError,
    RateLimitError,
    TurnTimeoutError,
)
from muxi_cli.llm.base import Media, ToolCall
from muxi_cli.providers.spec import WIRE_IMAGE_TYPES

T = TypeVar("T")

_RETRY_STATUSES = frozenset({408, 409, 429})
#: Context-overflow wording of OpenAI, Anthropic, llama.cpp (``llama-server`` and
#: llama-cpp-python), Ollama, vLLM and LM Studio. Matched against the message and the
#: error code/type whatever the HTTP status: local servers report it as 400, 500, or
#: inside a stream.
_CONTEXT_PATTERNS = re.compile(
    r"context[ _-]?length|context window|prompt is too long|too many tokens|maximum context|"
    r"reduce the length|input is too long|request_too_large|exceeds the context|"
    r"exceeds? the available context size|exceed_context_size|context size|"
    r"longer than the maximum model length|maximum model length|"
    r"tokens to keep from the initial prompt|when context the overflows|"
    r"n_keep \(\d+\) >= n_ctx|input length exceeds|exceeds the context length|"
    r"context overflow|prompt too long",
    re.IGNORECASE,
)
#: Provider keys, down to shorter fragments than :func:`muxi_cli.secrets.redact_text` takes.
_TOKEN_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,})")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to wait between attempts."""

    max_retries: int = 3
    backoff: float = 0.5  # first wait, doubled each attempt
    max_backoff: float = 8.0
    max_retry_after: float = 60.0  # a longer Retry-After is not waited for
    jitter: float = 0.25  # +/- this fraction of the wait

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None and retry_after >= 0:
            return retry_after
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


def retry_after_seconds(headers: Any) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds) from response headers."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000
        secs = headers.get("retry-after")
        if secs is not None:
            return float(secs)
    except (TypeError, ValueError):
        return None
    return None


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with the API key masked, also URL-encoded or cut short, and
    anything else that looks like a credential."""

    if secret and len(secret) >= 4:
        text = text.replace(secret, redaction.REDACTED)
    return redaction.redact(_TOKEN_PATTERN.sub(redaction.REDACTED, text), [secret])


def key_hint(provider: str, env_var: str) -> str:
    return (
        f"Set a valid key with `muxi keys set {provider}` or `export {env_var}=...`, "
        f"or put `api_key: ${{{env_var}}}` under providers.{provider} in muxi.yaml."
    )


@dataclass(slots=True)
class ErrorContext:
    """What error messages need to know about the failing call."""

    provider: str
    model: str
    base_url: str | None
    env_var: str
    api_key: str | None = None


def _body_message(body: Any) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            msg = inner.get("message")
            if isinstance(msg, str):
                return msg
        msg = body.get("message")
        if isinstance(msg, str):
            return msg
    if isinstance(body, str) and body:
        return body
    return None


def _body_code(body: Any) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return " ".join(str(inner.get(k) or "") for k in ("code", "type"))
    return ""


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower()


class IncompleteResponse(Exception):
    """A model server answered 200 but the answer never finished.

    ``empty``: nothing at all arrived (llama-cpp-python's empty 200); otherwise the
    stream stopped without a finish reason (a server killed mid-answer).
    """

    def __init__(self, empty: bool) -> None:
        super().__init__("empty response" if empty else "stream ended early")
        self.empty = empty


def _incomplete(exc: IncompleteResponse, ctx: ErrorContext) -> ProviderError:
    where = f" at {ctx.base_url}" if ctx.base_url else ""
    if exc.empty:
        return ProviderError(
            f"{ctx.provider}{where} answered HTTP 200 with an empty body (model {ctx.model})",
            hint="Local servers do this when the conversation overflows their context or when "
            "they cannot stream a tool choice: start a new session, raise the server's context "
            "size, or set `preset:` for this provider in muxi.yaml (see docs/configuration.md).",
        )
    return ProviderError(
        f"{ctx.provider}{where} closed the stream before the reply finished "
        f"(model {ctx.model}; no finish reason): the partial reply was kept",
        hint="The model server stopped or crashed mid-answer; check it is still running, "
        "then try again.",
    )


def _called_url(exc: BaseException, ctx: ErrorContext) -> str | None:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if url is not None:
        return str(url)
    return ctx.base_url


def _not_found(exc: BaseException, ctx: ErrorContext, detail: str) -> MuxiError:
    url = _called_url(exc, ctx)
    called = f" (called {url})" if url else ""
    mentions_model = "model" in detail.lower()
    base_hint = (
        f" If the model name is right, the base URL may be wrong: providers.{ctx.provider}."
        f"base_url is {ctx.base_url!r} (OpenAI-compatible servers usually end in /v1)."
        if ctx.base_url
        else ""
    )
    if mentions_model:
        message = f"model {ctx.model!r} was not found at {ctx.provider}{called}: {detail}"
    else:
        message = (
            f"{ctx.provider} answered HTTP 404{called}: {detail}; the base URL may be wrong, "
            f"or model {ctx.model!r} may not exist there"
        )
    return ModelNotFoundError(
        message,
        hint=f"Check the model name {ctx.model!r} (default_model or the agent's model in "
        f"muxi.yaml, or --model {ctx.provider}/<model>).{base_hint}",
    )


def _context_too_long(ctx: ErrorContext, detail: str) -> ContextTooLongError:
    return ContextTooLongError(
        f"the conversation is too long for {ctx.model}: {detail}",
        hint="Start a new session (`/new` in the TUI, or omit --session), shorten the "
        "input, or lower the agent's memory.buffer_tokens (a local server may also be "
        "started with a larger context size).",
    )


def translate(exc: BaseException, ctx: ErrorContext) -> MuxiError:
    """The muxi error for an SDK, transport or parsing failure."""
    if isinstance(exc, MuxiError):
        return exc
    if isinstance(exc, IncompleteResponse):
        return _incomplete(exc, ctx)
    if isinstance(exc, json.JSONDecodeError) and not exc.doc.strip():
        return _incomplete(IncompleteResponse(empty=True), ctx)  # a whole answer, empty
    where = f" at {ctx.base_url}" if ctx.base_url else ""
    if is_timeout(exc):
        return TurnTimeoutError(
            f"{ctx.provider} did not answer in time (model {ctx.model}{where})",
            hint="Try again, raise providers.<name>.timeout in muxi.yaml, or use a faster model.",
        )
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 400:
        body = getattr(exc, "body", None)
        detail = redact(_body_message(body) or str(exc), ctx.api_key)
        code = _body_code(body)
        if status in (401, 403):
            verb = (
                "rejected the API key"
                if status == 401
                else "refused the request (permission denied)"
            )
            return AuthError(
                f"{ctx.provider} {verb}: {detail}", hint=key_hint(ctx.provider, ctx.env_var)
            )
        if status not in (404, 429) and _says_context(detail, code):
            return _context_too_long(ctx, detail)
        if status == 404:
            return _not_found(exc, ctx, detail)
        if status == 429:
            return RateLimitError(
                f"{ctx.provider} is rate limiting requests (HTTP 429): {detail}",
                hint="Wait a moment and try again, or raise providers.<name>.max_retries.",
            )
        return ProviderError(
            f"{ctx.provider} returned HTTP {status}: {detail}",
            hint="This is usually temporary; try again. If it persists, check the provider's status.",
        )
    body = getattr(exc, "body", None)
    if body is not None:  # an error event inside a stream that had started fine
        detail = redact(_body_message(body) or str(exc), ctx.api_key)
        if _says_context(detail, _body_code(body)):
            return _context_too_long(ctx, detail)
        return ProviderError(
            f"{ctx.provider} failed while answering (model {ctx.model}): {detail}",
            hint="This is usually temporary (for example an overloaded server); try again.",
        )
    if isinstance(exc, json.JSONDecodeError | ValueError | KeyError | TypeError | AttributeError):
        return ProviderError(
            f"{ctx.provider} sent a malformed response (model {ctx.model}): {redact(str(exc), ctx.api_key)}",
            hint="Try again; if it repeats, the server at the base URL may not speak this API.",
        )
    name = type(exc).__name__
    if (
        "Connection" in name
        or "Connect" in name
        or "Network" in name
        or "Protocol" in name
        or isinstance(exc, OSError)
    ):
        return ProviderError(
            f"could not reach {ctx.provider}{where}: {redact(str(exc), ctx.api_key) or name}",
            hint="Check your network connection, or that the local model server is running.",
        )
    return ProviderError(
        f"{ctx.provider} failed: {name}: {redact(str(exc), ctx.api_key)}",
        hint="Try again; if it repeats, check the provider's status and its base URL.",
    )


def _says_context(detail: str, code: str) -> bool:
    """The error's message or code is a context overflow, in any server's words."""
    return bool(_CONTEXT_PATTERNS.search(detail) or _CONTEXT_PATTERNS.search(code))


def _is_context_error(body: Any, text: str) -> bool:
    return _says_context(_body_message(body) or text, _body_code(body))


def is_retryable(exc: BaseException) -> bool:
    if is_timeout(exc):
        return False
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        if status >= 500 and _is_context_error(getattr(exc, "body", None), str(exc)):
            return False  # a context overflow reported as 500 (Ollama) never heals by retrying
        return status in _RETRY_STATUSES or status >= 500
    name = type(exc).__name__
    return "Connection" in name or "Connect" in name or isinstance(exc, ConnectionError)


async def open_with_retries(
    open_call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    ctx: ErrorContext,
    deadline: float | None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``open_call`` with retries; raise a translated muxi error when it gives up."""
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        try:
            if deadline is None:
                return await open_call()
            async with asyncio.timeout_at(deadline):
                return await open_call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_retryable(exc) or attempt >= policy.max_retries:
                raise translate(exc, ctx) from exc
            response = getattr(exc, "response", None)
            after = retry_after_seconds(getattr(response, "headers", None))
            if after is not None and after > policy.max_retry_after:
                raise translate(exc, ctx) from exc
            wait = policy.delay(attempt, after)
            if deadline is not None and loop.time() + wait >= deadline:
                raise translate(exc, ctx) from exc
            attempt += 1
            await sleep(wait)


async def iterate_until(source: AsyncIterator[T], deadline: float | None) -> AsyncIterator[T]:
    """Items of ``source``; ``TimeoutError`` once ``deadline`` (loop time) passes."""
    iterator = source.__aiter__()
    while True:
        try:
            if deadline is None:
                item = await iterator.__anext__()
            else:
                async with asyncio.timeout_at(deadline):
                    item = await iterator.__anext__()
        except StopAsyncIteration:
            return
        yield item


def parse_arguments(call_id: str, name: str, raw: str) -> ToolCall:
    """A :class:`ToolCall` from streamed argument text (invalid JSON is kept raw)."""
    text = raw.strip()
    if not text:
        return ToolCall(call_id, name, {})
    try:
        value = json.loads(text)
    except ValueError:
        return ToolCall(call_id, name, {}, invalid_arguments=raw)
    if not isinstance(value, dict):
        return ToolCall(call_id, name, {}, invalid_arguments=raw)
    return ToolCall(call_id, name, value)


def deadline_for(timeout: float | None) -> float | None:
    if timeout is None or timeout <= 0:
        return None
    return asyncio.get_running_loop().time() + timeout


def b64(media: Media) -> str:
    """The media's bytes as base64 text (the wire formats want it inline)."""
    return base64.b64encode(media.data).decode("ascii")


def data_url(media: Media) -> str:
    return f"data:{media.media_type};base64,{b64(media)}"


def sendable_image(media: Media) -> bool:
    return media.kind == "image" and media.media_type in WIRE_IMAGE_TYPES
