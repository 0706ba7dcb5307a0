"""A file stored on the server over the turns' WebSocket (``media.begin``, binary
frames, ``media.end``): the body of :meth:`WebSocketTurns.upload
<muxi_cli.runtime.remote_ws.WebSocketTurns.upload>`, kept apart so that module
stays about turns."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import ConnectionFailedError, MuxiError
from muxi_cli.protocol.messages import MediaRef

if TYPE_CHECKING:
    from muxi_cli.runtime.remote_ws import WebSocketTurns

#: Bytes per binary frame of an upload: every server takes 64 KiB frames (its
#: frame limit is at least that), with room for compression to grow the frame.
UPLOAD_FRAME = 48 * 1024


async def upload(
    owner: WebSocketTurns, ws: Any, data: bytes, name: str | None, media_type: str | None
) -> MediaRef:
    """Send ``data`` on ``ws`` (the owner's connection, its lock held); the stored reference."""
    from websockets.exceptions import ConnectionClosed  # deferred: websockets is slow to import

    begin: dict[str, Any] = {"type": "media.begin", "size": len(data)}
    if name is not None:
        begin["name"] = name
    if media_type is not None:
        begin["media_type"] = media_type
    try:
        await ws.send(json.dumps(begin))
        for i in range(0, len(data), UPLOAD_FRAME):
            await ws.send(data[i : i + UPLOAD_FRAME])
        await ws.send(json.dumps({"type": "media.end"}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if not isinstance(frame, dict):
                continue
            if frame.get("type") == "media.stored":
                return MediaRef.from_dict(frame.get("media") or {})
            if frame.get("type") == "error":
                raise MuxiError.from_dict(frame.get("error") or {})
    except (ConnectionClosed, TimeoutError) as exc:
        owner.ws = None
        raise ConnectionFailedError(
            f"the connection to {owner.label} closed during the upload",
            hint="try again; the server stored nothing",
        ) from exc
