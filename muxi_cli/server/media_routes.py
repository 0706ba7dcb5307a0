"""``/v1/media``: upload a file once, refer to it by id in chat requests.

Every route acts on the caller's own media (an admin key on the user it acts
as): another user's id is answered exactly like a missing one. Downloads are
always attachments with ``nosniff`` and a sandboxing CSP, so an uploaded HTML
or SVG file is never rendered by a browser on the server's origin.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

from typing import Any

from muxi_cli.protocol.messages import MediaRef
from muxi_cli.server.context import Caller, ServerContext

#: (method, path, what it touches) for tests/server/test_authz*: see routes.ROUTES.
MEDIA_ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/v1/media", "none"),
    ("GET", "/v1/media", "none"),
    ("GET", "/v1/media/{media_id}", "media"),
    ("GET", "/v1/media/{media_id}/info", "media"),
    ("DELETE", "/v1/media/{media_id}", "media"),
    ("GET", "/v1/sessions/{session_id}/media", "session"),
]

#: Headers of every download: never sniffed, never rendered inline, never scripted.
DOWNLOAD_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private, max-age=0, no-store",
}

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "media_type": {
                        "type": "string",
                        "maxLength": 255,
                        "description": "The type you claim (checked against the bytes).",
                    },
                },
            }
        }
    },
}


def content_disposition(name: str | None, media_id: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one per RFC 6266."""
    from urllib.parse import quote  # deferred: only downloads need it

    real = name or media_id
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in real)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(real, safe='')}"


def add_media_routes(router: Any, ctx: ServerContext, auth: Any) -> None:
    from fastapi import Path, Request  # deferred: FastAPI is slow to import
    from fastapi.responses import Response  # deferred: FastAPI is slow to import
    from starlette.requests import ClientDisconnect  # deferred: Starlette is slow to import

    from muxi_cli.server.uploads import (  # deferred: loads python-multipart glue
        OVERHEAD,
        UploadTimeout,
        read_upload,
        too_large,
    )

    def MediaId() -> Any:
        # Not pattern-checked here: a malformed id is a 404 like any unknown one.
        return Path(min_length=1, max_length=128)

    @router.post(
        "/media",
        tags=["media"],
        status_code=201,
        response_model=MediaRef,
        summary="Upload a file (multipart field 'file'); refer to its id in chat attachments",
        openapi_extra={"requestBody": _UPLOAD_BODY},
    )
    async def upload(request: Request, who: Caller = auth) -> Any:
        media = ctx.media
        limit = media.max_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit + OVERHEAD:
            raise too_large(int(length), limit)  # refused before reading a byte
        with media.admitted(who.user_id):
            try:
                up = await read_upload(
                    request.stream(),
                    request.headers.get("content-type", ""),
                    limit,
                    media.idle,
                    media.deadline,
                )
            except ClientDisconnect:
                # Gone (or cut at the body limit, whose 413 is already sent): nothing stored.
                raise UploadTimeout("the upload was interrupted", hint="send it again") from None
            ref = await media.put(who.user_id, up.data, name=up.name, media_type=up.media_type)
        return ref.to_dict()

    @router.get("/media", tags=["media"], summary="How much media the caller stores")
    async def usage(who: Caller = auth) -> Any:
        media = ctx.media
        return {
            "user_id": who.user_id,
            "used": await media.usage(who.user_id),
            "quota": media.quota,
            "max_upload": media.max_bytes,
        }

    @router.get(
        "/media/{media_id}",
        tags=["media"],
        summary="The file's bytes (always as an attachment)",
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    async def download(media_id: str = MediaId(), who: Caller = auth) -> Any:
        ref, data = await ctx.media.read(who.user_id, media_id)
        headers = dict(DOWNLOAD_HEADERS)
        headers["content-disposition"] = content_disposition(ref.name, ref.id)
        return Response(data, media_type=ref.media_type, headers=headers)

    @router.get("/media/{media_id}/info", tags=["media"], response_model=MediaRef)
    async def info(media_id: str = MediaId(), who: Caller = auth) -> Any:
        return (await ctx.media.info(who.user_id, media_id)).to_dict()

    @router.delete(
        "/media/{media_id}",
        tags=["media"],
        status_code=204,
        summary="Delete the file and what was derived from it (sessions keep a placeholder)",
    )
    async def delete(media_id: str = MediaId(), who: Caller = auth) -> Response:
        await ctx.media.delete(who.user_id, media_id)
        return Response(status_code=204)

    @router.get(
        "/sessions/{session_id}/media",
        tags=["sessions"],
        response_model=list[MediaRef],
        summary="Every file a session's messages hold, in the order they were sent",
    )
    async def session_media(
        session_id: str = Path(min_length=1, max_length=128), who: Caller = auth
    ) -> Any:
        info = await ctx.owned_session(who, session_id)
        refs = await ctx.runtime.session_media(info.id, user_id=info.user_id)
        return [r.to_dict() for r in refs]
