"""The admin-only routes of ``/v1``: attaching, restarting and calling MCP servers,
and the server's keys.

Each checks the caller's key first (:func:`require_admin`): a user key gets a 403
naming the ``admin`` scope, whatever the route would do.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

from typing import Any

from muxi_cli.errors import NotFoundError, ScopeError
from muxi_cli.protocol.records import ServerInfo
from muxi_cli.server.context import Caller, ServerContext
from muxi_cli.server.models import KeyCreateBody, MCPAttachBody, MCPCallBody


def require_admin(caller: Caller) -> None:
    if not caller.admin:
        raise ScopeError(
            "this needs an admin key (missing scope admin)",
            hint="ask the server's admin",
            scope="admin",
        )


def add_admin_routes(v1: Any, ctx: ServerContext, Auth: Any, ObjId: Any) -> None:
    """Add the admin routes to the ``/v1`` router (``Auth``: the caller dependency;
    ``ObjId``: the path-parameter factory of :func:`~muxi_cli.server.routes.add_routes`)."""
    from fastapi.responses import Response  # deferred: FastAPI is slow to import

    rt = ctx.runtime
    keys = ctx.keys

    @v1.post(
        "/mcp/servers",
        tags=["tools"],
        status_code=201,
        response_model=ServerInfo,
        summary="Attach an MCP server to the running formation (admin)",
    )
    async def mcp_attach(body: MCPAttachBody, who: Caller = Auth) -> Any:
        require_admin(who)
        return (await rt.mcp_attach(body.name, body.server, body.agents)).to_dict()

    @v1.delete(
        "/mcp/servers/{server_name}",
        tags=["tools"],
        status_code=204,
        summary="Detach an MCP server (admin)",
    )
    async def mcp_detach(server_name: str = ObjId(), who: Caller = Auth) -> Response:
        require_admin(who)
        await rt.mcp_detach(server_name)
        return Response(status_code=204)

    @v1.post(
        "/mcp/servers/{server_name}/restart",
        tags=["tools"],
        response_model=ServerInfo,
        summary="Restart an MCP server, e.g. retry one that failed to start (admin)",
    )
    async def mcp_restart(server_name: str = ObjId(), who: Caller = Auth) -> Any:
        # Admin only, like attach: a restart runs the server's command again on this machine.
        require_admin(who)
        return (await rt.mcp_restart(server_name)).to_dict()

    @v1.post(
        "/mcp/servers/{server_name}/call",
        tags=["tools"],
        summary="Call one tool directly: no model, no approval (admin; `muxi mcp call`)",
    )
    async def mcp_call(body: MCPCallBody, server_name: str = ObjId(), who: Caller = Auth) -> Any:
        require_admin(who)  # it runs the tool with no approval
        call = getattr(rt, "mcp_call", None)
        if call is None:
            raise NotFoundError("this server cannot call tools directly")
        return await call(server_name, body.tool, body.arguments)

    @v1.get("/keys", tags=["keys"], summary="All keys (admin): ids, roles, users; never secrets")
    async def list_keys(who: Caller = Auth) -> Any:
        require_admin(who)
        return [r.public_dict() for r in keys.records()]

    @v1.post("/keys", tags=["keys"], status_code=201, summary="Create a key (admin)")
    async def create_key(body: KeyCreateBody, who: Caller = Auth) -> Any:
        require_admin(who)
        rec, secret = keys.create(body.role, body.user_id, body.label, body.checked_scopes(ctx))
        return {**rec.public_dict(), "key": secret}

    @v1.delete("/keys/{key_id}", tags=["keys"], summary="Revoke a key (admin)")
    async def revoke_key(key_id: str = ObjId(), who: Caller = Auth) -> Any:
        require_admin(who)
        return keys.revoke(key_id).public_dict()
