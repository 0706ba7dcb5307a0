"""The errors of the Python client: one class per kind of refusal, with what the server said.

Every error a call can raise is an :class:`ApiError` (itself a
:class:`muxi_cli.errors.MuxiError`), carrying the HTTP ``status`` (0 when no
answer came), the server's stable ``code``, its ``message`` and ``hint``, and
``retry_after`` (seconds) when the server said when to come back. The class
follows the server's ``code`` first and the status second, so a proxy's bare
413 is a :class:`PayloadTooLarge` as much as the server's ``media_too_large``::

    try:
        await client.sessions.get("nope")
    except errors.NotFound as exc:
        print(exc.code, exc.message)
"""

from __future__ import annotations

import datetime
import email.utils
import json
import math
from collections.abc import Mapping
from typing import Any

from muxi_cli.errors import MuxiError
from muxi_cli.protocol.apiversion import UNSUPPORTED


class ApiError(MuxiError):
    """A muxi server refused a request, or could not be reached (:class:`ConnectionFailed`)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int = 0,
        code: str = "error",
        retry_after: float | None = None,
        scope: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        #: The HTTP status (0: no answer, or a WebSocket error frame).
        self.status = status
        self.code = code  # type: ignore[misc]  # the server's code, per instance
        #: Seconds the server asked to wait before trying again (429, 503), if it said.
        self.retry_after = retry_after
        #: The scope a key lacks (``missing_scope``), if the server named it.
        self.scope = scope

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, {self.message!r})"


class BadRequest(ApiError):
    """400 (and 422): the request itself is wrong; sending it again will not help."""


class Unauthorized(ApiError):
    """401: no key, an unknown key, or a revoked one."""


class Forbidden(ApiError):
    """403: the key is valid but may not do this (a user key asking for admin work)."""


class MissingScope(Forbidden):
    """403 ``missing_scope``: the key lacks the scope named in ``scope``."""


class NotFound(ApiError):
    """404: no such session, memory, media, run or key (for this user)."""


class PayloadTooLarge(ApiError):
    """413: the body or the upload is over the server's limit."""


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` says when to try again."""


class Unavailable(ApiError):
    """503: the server is shutting down or busy; another try (or replica) may work."""


class TurnStarting(ApiError):
    """409 ``turn_starting``: a repeat of a turn start the server still starts;
    the same idempotency key works after ``retry_after`` (the client retries it)."""


class UnsupportedApiVersion(ApiError):
    """The server speaks another major version of the API than this client."""


class ConnectionFailed(ApiError):
    """No answer: the server could not be reached, or the connection broke."""


class ClientClosed(ApiError, RuntimeError):
    """The client was closed (``aclose``/``close``): a call after that is refused
    instead of opening new connections. Also a :class:`RuntimeError`, which is
    what the blocking client raised for it before."""

    def __init__(
        self, message: str = "this muxi client is closed", hint: str | None = None
    ) -> None:
        super().__init__(
            message,
            hint or "open a new client; a closed one cannot be used again",
            status=0,
            code="client_closed",
        )


_BY_CODE: dict[str, type[ApiError]] = {
    UNSUPPORTED: UnsupportedApiVersion,
    "missing_scope": MissingScope,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "media_too_large": PayloadTooLarge,
    "payload_too_large": PayloadTooLarge,
    "rate_limited": RateLimited,
    "shutting_down": Unavailable,
    "busy": Unavailable,
    "turn_starting": TurnStarting,
    "connection_failed": ConnectionFailed,
    "usage_error": BadRequest,
    "config_error": BadRequest,
}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    422: BadRequest,
    429: RateLimited,
    503: Unavailable,
}


#: The status each class stands for (an error that came without one: a WebSocket frame).
_CLASS_STATUS: dict[type[ApiError], int] = {
    **{klass: status for status, klass in _BY_STATUS.items() if status != 422},
    MissingScope: 403,
    TurnStarting: 409,
    UnsupportedApiVersion: 400,
    ConnectionFailed: 0,
}


def error_class(code: str, status: int) -> type[ApiError]:
    """The class for a server's ``code`` (first) or HTTP ``status`` (second)."""
    return _BY_CODE.get(code) or _BY_STATUS.get(status) or ApiError


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date (what proxies and
    load balancers often send) counted from now; None when absent or unreadable."""
    value = (headers or {}).get("retry-after")
    if value is None:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value)
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _seconds_until(date: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT; one without a zone is read as such
        when = when.replace(tzinfo=datetime.UTC)
    return (when - datetime.datetime.now(datetime.UTC)).total_seconds()


def from_answer(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> ApiError:
    """The error behind an HTTP error answer (a muxi body, or a proxy's bare one)."""
    try:
        obj: Any = json.loads(body) if body else None
    except ValueError:
        obj = None
    error = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code") or _DEFAULT_CODE.get(status, "error"))
    message = str(error.get("message") or f"the server answered HTTP {status}")
    hint = error.get("hint") if isinstance(error.get("hint"), str) else None
    scope = error.get("scope") if isinstance(error.get("scope"), str) else None
    klass = error_class(code, status)
    return klass(
        message, hint, status=status, code=code, retry_after=retry_after(headers), scope=scope
    )


#: The code of a bare error answer (a proxy's, not a muxi body).
_DEFAULT_CODE = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    413: "payload_too_large",
    429: "rate_limited",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}


def from_muxi(exc: MuxiError, status: int | None = None) -> ApiError:
    """The client error for a :class:`MuxiError` raised by the runtime code the
    client reuses (a WebSocket error frame, a failed approval request)."""
    if isinstance(exc, ApiError):
        return exc
    code = str(exc.code)
    klass = error_class(code, exc.http_status)
    if status is None:
        # A bare MuxiError carries a code the CLI has no class for (shutting_down,
        # unsupported_api_version): its status is the one its client class means.
        specific = type(exc) is not MuxiError
        status = exc.http_status if specific else _CLASS_STATUS.get(klass, exc.http_status)
        if klass is ConnectionFailed:
            status = 0
    err = klass(exc.message, exc.hint, status=status, code=code, scope=getattr(exc, "scope", None))
    err.__cause__ = exc.__cause__ or exc
    return err
