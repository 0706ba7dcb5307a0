"""The version of the muxi HTTP/WebSocket API, which clients and server compare.

It is not muxi's release version: it changes only when the API does. Minor
versions are additive (a 1.1 client works with a 1.0 server, minus what 1.1
added), so only the major has to match.

- 1.0: the API before versioning (no header, no ``/v1/schema/...``).
- 1.1: ``Muxi-Api-Version`` on every response, ``GET /v1/schema/events`` and
  ``/v1/schema/asyncapi``, ``api_version`` in the WebSocket ``ready`` frame.
- 1.2: turn starts carry an idempotency key (``Idempotency-Key`` on
  ``POST /v1/chat``, ``idempotency_key`` in the WebSocket ``chat`` frame), and
  ``HEAD`` answers every ``GET`` route.

This module imports nothing, so a light client can carry it.
"""

from __future__ import annotations

#: The API version this code speaks.
API_VERSION = "1.2"
#: Its major: a request asking for another major is refused.
API_MAJOR = 1
#: The header a client sends (the version it speaks) and every response carries.
HEADER = "Muxi-Api-Version"
#: The error code of a refused version (400 for the header, 404 for a ``/v<N>/`` path).
UNSUPPORTED = "unsupported_api_version"


def parse(value: str) -> tuple[int, int]:
    """``"1.1"`` -> ``(1, 1)``; ``"1"`` -> ``(1, 0)``. Raises ``ValueError`` for
    anything else (``"v1"``, ``"1.x"``, ``"1.2.3"``, ``""``)."""
    text = value.strip()
    major, sep, minor = text.partition(".")
    if not _digits(major) or (sep and not _digits(minor)):
        raise ValueError(f"not an API version: {value!r} (expected MAJOR.MINOR, e.g. 1.1)")
    return int(major), int(minor) if sep else 0


def values(header: str) -> list[str]:
    """The versions in one header value: a proxy may fold repeated headers into a
    comma-separated list (``"1.1, 1.1"``), as HTTP allows for list headers."""
    return [part.strip() for part in header.split(",") if part.strip()] or [header]


def _digits(text: str) -> bool:
    # str.isdigit() also takes superscripts and other scripts' digits, which int() refuses.
    return bool(text) and len(text) <= 6 and all("0" <= c <= "9" for c in text)


def compatible(value: str) -> bool:
    """True when a peer speaking ``value`` understands this API (same major)."""
    try:
        return parse(value)[0] == API_MAJOR
    except ValueError:
        return False


def keeps_turn_keys(value: object) -> bool:
    """Whether a server of version ``value`` (None: 1.0) keeps turn starts'
    idempotency keys (1.2): an older one ignores a key, so a resend of a start
    it may have read would run the turn again."""
    try:
        return isinstance(value, str) and parse(value) >= (1, 2)
    except ValueError:
        return False
