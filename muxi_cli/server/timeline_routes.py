"""``GET /v1/sessions/{id}/timeline``: a session's recorded turns (protocol/timeline.py).

The session is found the way every session route finds it
(``ServerContext.owned_session``): a user key reaches its own user's sessions
only and gets the same not-found for anyone else's; an admin key any session.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

from typing import Any

from muxi_cli.protocol.timeline import timeline_dict
from muxi_cli.server.context import Caller, ServerContext

#: (method, path, what it touches), as in ``server.routes.ROUTES``.
TIMELINE_ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/v1/sessions/{session_id}/timeline", "session"),
]


def add_timeline_routes(app: Any, ctx: ServerContext) -> None:
    from fastapi import APIRouter, Depends, Path, Request  # deferred: FastAPI is slow to import

    from muxi_cli.server.app import authenticate_request  # deferred: loads muxi's server

    async def caller(request: Request) -> Caller:
        client = request.client.host if request.client else None
        return await authenticate_request(ctx, request.headers, client, request.state)

    Auth = Depends(caller)
    v1 = APIRouter(prefix="/v1")

    @v1.get(
        "/sessions/{session_id}/timeline",
        tags=["sessions"],
        summary="The session's turns: routing, agent, model, tools, tokens, cost, delegates",
    )
    async def timeline(
        session_id: str = Path(min_length=1, max_length=128), who: Caller = Auth
    ) -> Any:
        info = await ctx.owned_session(who, session_id)
        return timeline_dict(info.id, await ctx.runtime.timeline(info.id))

    app.include_router(v1)
