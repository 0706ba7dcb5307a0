"""Who is on a WebSocket: the handshake's key header, or the first frame.

A client that can set headers (``Authorization``/``X-Muxi-Key``, and
``Muxi-Api-Version``) authenticates the handshake. A browser cannot: it sends
``{"type": "auth", "key": "...", "user_id": null, "api_version": "1.1"}``
first instead. ``api_version`` is optional (no version = 1.x, as for the
header) and is checked exactly as the header is (server/versioning.py): another
major, or a value that is no version, is refused with an error frame ``ref:
"version"`` and close 4400, before the key is looked at.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError, ServerAuthError
from muxi_cli.server.versioning import UnsupportedApiVersion, asked_for
from muxi_cli.server.ws_frames import parse_frame

if TYPE_CHECKING:
    from muxi_cli.server.ws import Session

#: Close codes: 4400 unsupported API version, 4401 authentication failed, 4408 no
#: auth frame in time.
CLOSE_VERSION = 4400
CLOSE_AUTH = 4401
CLOSE_AUTH_TIMEOUT = 4408


def frame_version(frame: dict[str, Any]) -> UnsupportedApiVersion | None:
    """The refusal of an auth frame whose ``api_version`` names another major
    (None when it is absent, null or fine)."""
    value = frame.get("api_version")
    if value is None:
        return None
    return asked_for([value if isinstance(value, str) else repr(value)])


async def authenticate(session: Session) -> bool:
    """Set ``session.caller``; False (the error frame sent, the socket closed) when refused."""
    from muxi_cli.server.app import (  # deferred: loads muxi's paths, server, stores
        authenticate_request,
        bearer_token,
    )
    from muxi_cli.server.context import (  # deferred: loads muxi's paths, server, stores
        KEY_HEADER,
        USER_HEADER,
    )

    headers = session.ws.headers
    client = session.ws.client.host if session.ws.client else None
    state = session.ws.state
    close_code, ref = CLOSE_AUTH, "auth"
    try:
        if bearer_token(headers.get("authorization"), headers.get(KEY_HEADER)):
            session.caller = await authenticate_request(session.ctx, headers, client, state)
            return True
        try:
            wait = session.ctx.settings.ws_auth_timeout
            raw = str(await asyncio.wait_for(session._receive(), wait))
        except TimeoutError:
            close_code = CLOSE_AUTH_TIMEOUT
            raise ServerAuthError(
                "no auth frame arrived in time",
                hint='send {"type": "auth", "key": "..."} first',
            ) from None
        frame = parse_frame(raw)
        if frame.get("type") != "auth" or not isinstance(frame.get("key"), str):
            raise ServerAuthError(
                "the first frame must authenticate",
                hint='send {"type": "auth", "key": "..."} or an Authorization header',
            )
        refused = frame_version(frame)
        if refused is not None:
            close_code, ref = CLOSE_VERSION, "version"
            raise refused
        fake_headers = {"x-muxi-key": frame["key"]}
        if isinstance(frame.get("user_id"), str):
            fake_headers["x-muxi-user-id"] = frame["user_id"]
        elif headers.get(USER_HEADER):
            fake_headers["x-muxi-user-id"] = headers[USER_HEADER]
        session.caller = await authenticate_request(session.ctx, fake_headers, client, state)
    except MuxiError as exc:
        await session.send_error(exc, ref)
        with contextlib.suppress(Exception):
            await session.ws.close(close_code)
        session.closed = True
        return False
    return True
