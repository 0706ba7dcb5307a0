"""``GET /v1/runs/live``: the runs in flight (the chat app's dashboard).

A user key sees its own user's runs only, whatever it asks for, and no user
ids; an admin key sees every user's, or one user's with ``?user=``.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

from typing import Any

from muxi_cli.server.context import Caller, ServerContext

#: (method, path, what it touches), as in ``server.routes.ROUTES``.
LIVE_ROUTES: list[tuple[str, str, str]] = [("GET", "/v1/runs/live", "none")]


def add_live_routes(app: Any, ctx: ServerContext) -> None:
    from fastapi import APIRouter, Depends, Query, Request  # deferred: FastAPI is slow to import

    from muxi_cli.server.app import authenticate_request  # deferred: loads muxi's server

    async def caller(request: Request) -> Caller:
        client = request.client.host if request.client else None
        return await authenticate_request(ctx, request.headers, client, request.state)

    v1 = APIRouter(prefix="/v1", tags=["stats"])

    @v1.get("/runs/live", summary="Runs in flight (admin: all or ?user=; else own, no user ids)")
    async def live(
        who: Caller = Depends(caller),
        user: str | None = Query(default=None, max_length=200),
    ) -> Any:
        if who.admin:
            return (await ctx.runtime.live(user_id=user or None)).to_dict()
        report = await ctx.runtime.live(user_id=who.user_id)
        return report.without_user_ids().to_dict()

    app.include_router(v1)
