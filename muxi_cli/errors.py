"""One error family for the whole product.

Every error a user can meet is a :class:`MuxiError` carrying a message, a hint
(what to do about it) and a stable ``code``. The CLI maps ``exit_code`` to the
process exit status, the TUI shows message and hint in place, the server
returns ``{"error": {"code", "message", "hint"}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

#: Words that start with a vowel letter but a "y" sound ("a user", "a unique id").
_YOU_SOUND = ("uni", "use", "usu", "uti", "ura", "uri", "uro", "eu")


def with_article(word: str) -> str:
    """``a user``, ``an admin``, ``an int``: the article for a word built into a message."""
    low = word.lower()
    vowel = low[:1] in ("a", "e", "i", "o", "u") and not low.startswith(_YOU_SOUND)
    return f"{'an' if vowel else 'a'} {word}"


class ExitCode:
    """Documented process exit codes of ``muxi``."""

    OK = 0
    RUNTIME = 1
    USAGE = 2
    TOOL_DENIED = 3
    TIMEOUT = 4
    INTERRUPTED = 130


class MuxiError(Exception):
    """Base of every error muxi reports to a user."""

    code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = ExitCode.RUNTIME
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        """What the server and events carry: the message with credentials redacted
        (it may quote a provider's or an MCP server's text)."""
        # deferred: its patterns and logging cost ~4 ms that every command would pay
        from muxi_cli.redact import redact

        return {"code": self.code, "message": redact(self.message), "hint": self.hint}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MuxiError:
        """Rebuild the most specific error class for a serialised error."""
        code = str(data.get("code") or "error")
        klass = _BY_CODE.get(code, MuxiError)
        err = klass(str(data.get("message") or "unknown error"), data.get("hint"))
        if isinstance(err, ScopeError) and isinstance(data.get("scope"), str):
            err.scope = data["scope"]
        if klass is MuxiError and code != "error":
            err.code = code  # type: ignore[misc]
        return err

    def __str__(self) -> str:
        return self.message


class ConfigError(MuxiError):
    code = "config_error"
    exit_code = ExitCode.USAGE
    http_status = 400


class UsageError(MuxiError):
    code = "usage_error"
    exit_code = ExitCode.USAGE
    http_status = 400


class NotFoundError(MuxiError):
    code = "not_found"
    exit_code = ExitCode.USAGE
    http_status = 404


class ProviderError(MuxiError):
    """An LLM provider failed (network, server error, bad response)."""

    code = "provider_error"
    http_status = 502


class AuthError(ProviderError):
    """The provider rejected the key."""

    code = "auth_error"


class ModelNotFoundError(ProviderError):
    code = "model_not_found"


class ContextTooLongError(ProviderError):
    code = "context_too_long"


class RateLimitError(ProviderError):
    code = "rate_limited"
    http_status = 429


class NoProviderError(MuxiError):
    """No model provider is usable (no key, no local server)."""

    code = "no_provider"
    exit_code = ExitCode.USAGE
    http_status = 503


class ToolDeniedError(MuxiError):
    code = "tool_denied"
    exit_code = ExitCode.TOOL_DENIED
    http_status = 403


class ToolError(MuxiError):
    code = "tool_error"


class TurnTimeoutError(MuxiError):
    code = "timeout"
    exit_code = ExitCode.TIMEOUT
    http_status = 504


class CancelledError(MuxiError):
    code = "cancelled"
    exit_code = ExitCode.INTERRUPTED
    http_status = 499


class MemoryStoreError(MuxiError):
    code = "memory_error"


class ServerAuthError(MuxiError):
    """A muxi server rejected (or did not get) an API key."""

    code = "unauthorized"
    exit_code = ExitCode.USAGE
    http_status = 401


class ForbiddenError(MuxiError):
    code = "forbidden"
    exit_code = ExitCode.USAGE
    http_status = 403


class ScopeError(ForbiddenError):
    """A key lacks a scope (docs/security.md); the error names it.

    Exits with 3 like a denied tool: the action was refused, not mistyped.
    """

    code = "missing_scope"
    exit_code = ExitCode.TOOL_DENIED

    def __init__(self, message: str, hint: str | None = None, scope: str | None = None) -> None:
        super().__init__(message, hint)
        self.scope = scope

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "scope": self.scope}


class MediaError(UsageError):
    """An attachment that cannot be used as what it is: truncated, lying about
    its type, a decompression bomb, a kind muxi does not read."""

    code = "bad_media"
    http_status = 422


class MediaTooLargeError(MediaError):
    """A file over the per-file limit, or over what its owner may still store."""

    code = "media_too_large"
    http_status = 413


class MissingPartError(UsageError):
    """A command needs a part of muxi that is not installed: its message names
    the pip extra that brings it (muxi_cli/parts.py)."""

    code = "missing_part"
    http_status = 501


class ConnectionFailedError(MuxiError):
    """A remote muxi server could not be reached."""

    code = "connection_failed"


_BY_CODE: dict[str, type[MuxiError]] = {
    k.code: k
    for k in (
        MuxiError,
        ConfigError,
        UsageError,
        NotFoundError,
        ProviderError,
        AuthError,
        ModelNotFoundError,
        ContextTooLongError,
        RateLimitError,
        NoProviderError,
        ToolDeniedError,
        ToolError,
        TurnTimeoutError,
        CancelledError,
        MemoryStoreError,
        ServerAuthError,
        ForbiddenError,
        ScopeError,
        MediaError,
        MediaTooLargeError,
        ConnectionFailedError,
        MissingPartError,
    )
}


def exit_code_for(code: str) -> int:
    """The exit code for a serialised error ``code`` (as carried by ``run.failed``)."""
    return _BY_CODE.get(code, MuxiError).exit_code
