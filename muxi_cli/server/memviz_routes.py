"""``GET /v1/memory/stats`` and ``GET /v1/memory/map``: one user's memories in figures
and as a map, computed here where the memories are (runtime/memviz.py), so a client
without numpy or LanceDB shows them.

Scope as the other memory routes: the user the key acts as (a user key: its own
user, whatever it sends; an admin key: ``X-Muxi-User-Id``, else the server's
default user). Registered before the routes of server/routes.py, whose
``/memory/{memory_id}`` would otherwise take "stats" and "map" for ids.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

from typing import Any

from muxi_cli.server.context import Caller, ServerContext

#: (method, path, what it touches), as in ``server.routes.ROUTES``.
MEMVIZ_ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/v1/memory/stats", "none"),
    ("GET", "/v1/memory/map", "none"),
]


def add_memviz_routes(app: Any, ctx: ServerContext) -> None:
    from fastapi import APIRouter, Depends, Query, Request  # deferred: FastAPI is slow to import

    from muxi_cli.server.app import authenticate_request  # deferred: loads muxi's server

    async def caller(request: Request) -> Caller:
        client = request.client.host if request.client else None
        return await authenticate_request(ctx, request.headers, client, request.state)

    v1 = APIRouter(prefix="/v1", tags=["memory"])

    @v1.get("/memory/stats", summary="The caller's memories by kind, age, decay; chains; recalls")
    async def memory_stats(who: Caller = Depends(caller)) -> Any:
        stats = await ctx.runtime.memory_stats(user_id=who.user_id)
        return stats.to_dict()

    @v1.get("/memory/map", summary="The caller's memories projected to 2-D and clustered")
    async def memory_map(
        who: Caller = Depends(caller),
        clusters: int | None = Query(default=None, ge=1, le=26),
    ) -> Any:
        found = await ctx.runtime.memory_map(user_id=who.user_id, clusters=clusters)
        return found.to_dict()

    app.include_router(v1)
