"""The HTTP routes under ``/v1``.

``ROUTES`` lists every authenticated route with the kind of object it touches,
so the tests can try each one with the wrong user's key.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

from typing import Any, Literal

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.protocol.records import (
    AgentInfo,
    Health,
    MemoryItem,
    SessionInfo,
    ToolInfo,
)
from muxi_cli.server.admin_routes import add_admin_routes
from muxi_cli.server.chat import (
    SSE_MEDIA,
    existing_answer,
    json_turn,
    prepare,
    resume_after,
    resume_response,
    sse_response,
    start_turn,
)
from muxi_cli.server.context import Caller, ServerContext
from muxi_cli.server.live_routes import LIVE_ROUTES
from muxi_cli.server.mcp_routes import add_mcp_routes
from muxi_cli.server.media_routes import MEDIA_ROUTES, add_media_routes
from muxi_cli.server.memviz_routes import MEMVIZ_ROUTES
from muxi_cli.server.models import (
    ApprovalBody,
    ChatBody,
    ElicitationBody,
    MemoryAddBody,
    MessageOut,
    RenameBody,
)
from muxi_cli.server.scopes import check_agent
from muxi_cli.server.timeline_routes import TIMELINE_ROUTES
from muxi_cli.server.turn_keys import MAX_KEY, Existing, check_key
from muxi_cli.stores.lance_schema import SHARED_USER

#: (method, path, what it touches): "session", "memory", "media", "call", "run",
#: "key", "admin" (admin only), "oauth" (the caller's own MCP login: 404 for a server
#: that is not an OAuth one) or "none" (no per-user object).
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/v1/me", "none"),
    ("GET", "/v1/health", "none"),
    ("GET", "/v1/agents", "none"),
    ("POST", "/v1/chat", "session"),
    ("POST", "/v1/approvals/{call_id}", "call"),
    ("POST", "/v1/elicitations/{elicitation_id}", "call"),
    ("POST", "/v1/runs/{run_id}/cancel", "run"),
    ("GET", "/v1/runs/{run_id}/events", "run"),
    ("GET", "/v1/sessions", "none"),
    ("GET", "/v1/sessions/{session_id}", "session"),
    ("GET", "/v1/sessions/{session_id}/messages", "session"),
    ("PATCH", "/v1/sessions/{session_id}", "session"),
    ("DELETE", "/v1/sessions/{session_id}", "session"),
    ("GET", "/v1/sessions/{session_id}/export", "session"),
    ("GET", "/v1/memory", "none"),
    ("GET", "/v1/memory/search", "none"),
    ("POST", "/v1/memory", "none"),
    ("GET", "/v1/memory/{memory_id}", "memory"),
    ("DELETE", "/v1/memory/{memory_id}", "memory"),
    ("GET", "/v1/tools", "none"),
    ("GET", "/v1/stats", "none"),
    ("GET", "/v1/mcp/servers", "none"),
    ("GET", "/v1/mcp/prompts", "none"),
    ("POST", "/v1/mcp/prompts/render", "none"),
    ("GET", "/v1/mcp/resources", "none"),
    ("GET", "/v1/mcp/resources/read", "none"),
    ("POST", "/v1/mcp/servers", "admin"),
    ("DELETE", "/v1/mcp/servers/{server_name}", "admin"),
    ("POST", "/v1/mcp/servers/{server_name}/restart", "admin"),
    ("POST", "/v1/mcp/servers/{server_name}/call", "admin"),
    ("POST", "/v1/mcp/servers/{server_name}/login", "oauth"),
    ("GET", "/v1/mcp/servers/{server_name}/login", "oauth"),
    ("DELETE", "/v1/mcp/servers/{server_name}/login", "oauth"),
    ("POST", "/v1/mcp/servers/{server_name}/login/complete", "oauth"),
    ("GET", "/v1/keys", "admin"),
    ("POST", "/v1/keys", "admin"),
    ("DELETE", "/v1/keys/{key_id}", "admin"),
    *MEDIA_ROUTES,
    *TIMELINE_ROUTES,
    *MEMVIZ_ROUTES,
    *LIVE_ROUTES,
]


def add_routes(app: Any, ctx: ServerContext) -> None:
    from fastapi import (  # deferred: FastAPI is slow to import
        APIRouter,
        Depends,
        Header,
        Path,
        Query,
        Request,
        Security,
    )
    from fastapi.responses import JSONResponse, Response  # deferred: FastAPI is slow to import
    from fastapi.security import (  # deferred: FastAPI is slow to import
        APIKeyHeader,
        HTTPAuthorizationCredentials,
        HTTPBearer,
    )

    from muxi_cli.server.app import authenticate_request  # deferred: loads muxi's server

    bearer = HTTPBearer(auto_error=False, description="An admin or user key of this server.")
    xkey = APIKeyHeader(name="X-Muxi-Key", auto_error=False, description="Same key, other header.")
    rt = ctx.runtime

    async def caller(
        request: Request,
        _bearer: HTTPAuthorizationCredentials | None = Security(bearer),
        _key: str | None = Security(xkey),
        x_muxi_user_id: str | None = Header(
            default=None, description="Admin keys only: act as this user.", max_length=128
        ),
    ) -> Caller:
        client = request.client.host if request.client else None
        return await authenticate_request(ctx, request.headers, client, request.state)

    Auth = Depends(caller)

    # Ids are not pattern-checked: an odd id is simply not found (404), like any unknown one.
    def SessionId() -> Any:  # a fresh object per parameter (FastAPI sets its alias)
        return Path(min_length=1, max_length=128)

    ObjId = SessionId
    v1 = APIRouter(prefix="/v1")

    @v1.get("/me", tags=["health"], summary="Who this key is")
    async def me(who: Caller = Auth) -> dict[str, Any]:
        return {
            "key_id": who.principal.key_id,
            "role": who.principal.role,
            "user_id": who.user_id,
            "scopes": list(who.grants.scopes),
        }

    @v1.get("/health", tags=["health"], response_model=Health, summary="The runtime's health")
    async def health(who: Caller = Auth) -> Any:
        h = await rt.health()
        return h.to_dict()

    @v1.get("/agents", tags=["agents"], response_model=list[AgentInfo])
    async def agents(who: Caller = Auth) -> Any:
        return [a.to_dict() for a in await rt.agents() if who.grants.may_agent(a.name)]

    @v1.post(
        "/chat",
        tags=["chat"],
        summary="One turn: SSE events with 'Accept: text/event-stream', else one JSON answer",
        responses={200: {"content": {SSE_MEDIA: {}, "application/json": {}}}},
    )
    async def chat(
        body: ChatBody,
        request: Request,
        who: Caller = Auth,
        idempotency_key: str | None = Header(
            default=None,
            alias="Idempotency-Key",
            max_length=MAX_KEY,
            description="A fresh id per turn start, the same on a retry of it: "
            "a repeat attaches to the turn it started instead of starting another.",
        ),
    ) -> Any:
        req = await prepare(ctx, who, body.request_dict())
        streaming = SSE_MEDIA in request.headers.get("accept", "")
        if not streaming and (req.approval == "interactive" or req.elicit):
            raise UsageError(
                "interactive approval and elicit need a streaming turn",
                hint="send 'Accept: text/event-stream' or use the WebSocket /v1/ws",
            )
        turn = await start_turn(ctx, req, check_key(idempotency_key))
        request.state.run_id = turn.run_id
        if isinstance(turn, Existing):  # a retried start: its turn, not a second one
            return await existing_answer(ctx, who, turn.run_id, streaming, request.receive)
        if streaming:
            key_id = who.principal.key_id
            return sse_response(
                ctx,
                turn,
                ctx.settings.keepalive,
                key_active=lambda: ctx.keys.is_active(key_id),
                key_check=ctx.settings.ws_key_check,
            )
        keyed = idempotency_key is not None  # a retry can collect it: the resume grace
        return JSONResponse(await json_turn(ctx, turn, request.receive, keyed=keyed))

    @v1.post("/approvals/{call_id}", tags=["chat"], summary="Decide a pending tool call")
    async def approve(body: ApprovalBody, call_id: str = ObjId(), who: Caller = Auth) -> Any:
        decision = who.approval(body.decision)
        run_id = await ctx.registry.approve(call_id, decision, who.scope_user, body.run_id)
        return {"ok": True, "call_id": call_id, "run_id": run_id, "decision": decision}

    @v1.post(
        "/elicitations/{elicitation_id}",
        tags=["chat"],
        summary="Answer an MCP server's question (an elicitation.requested event)",
    )
    async def elicit(
        body: ElicitationBody, elicitation_id: str = ObjId(), who: Caller = Auth
    ) -> Any:
        run_id = await ctx.registry.answer_elicitation(
            elicitation_id, body.action, body.content, who.scope_user
        )
        return {"ok": True, "elicitation_id": elicitation_id, "run_id": run_id}

    @v1.post("/runs/{run_id}/cancel", tags=["chat"], status_code=202, summary="Cancel a turn")
    async def cancel(run_id: str = ObjId(), who: Caller = Auth) -> Any:
        await ctx.registry.cancel(run_id, who.scope_user)
        return {"ok": True, "run_id": run_id}

    @v1.get(
        "/runs/{run_id}/events",
        tags=["chat"],
        summary="Resume a turn's SSE stream after Last-Event-ID (or ?after=N), to its end",
        responses={200: {"content": {SSE_MEDIA: {}}}},
    )
    async def run_events(
        request: Request,
        run_id: str = ObjId(),
        after: int | None = Query(default=None, ge=0),
        who: Caller = Auth,
    ) -> Any:
        start = resume_after(request.headers.get("last-event-id"), after)
        return await resume_response(ctx, who, run_id, start)

    @v1.get("/sessions", tags=["sessions"], response_model=list[SessionInfo])
    async def sessions(
        who: Caller = Auth,
        query: str | None = Query(default=None, max_length=500),
        limit: int = Query(default=50, ge=1, le=1000),
    ) -> Any:
        found = await rt.sessions(user_id=who.user_id, query=query or None, limit=limit)
        return [s.to_dict() for s in found if s.user_id == who.user_id]

    @v1.get("/sessions/{session_id}", tags=["sessions"], response_model=SessionInfo)
    async def session(session_id: str = SessionId(), who: Caller = Auth) -> Any:
        return (await ctx.owned_session(who, session_id)).to_dict()

    @v1.get("/sessions/{session_id}/messages", tags=["sessions"], response_model=list[MessageOut])
    async def messages(session_id: str = SessionId(), who: Caller = Auth) -> Any:
        info = await ctx.owned_session(who, session_id)
        return [m.to_dict() for m in await rt.messages(info.id)]

    @v1.patch("/sessions/{session_id}", tags=["sessions"], response_model=SessionInfo)
    async def rename(body: RenameBody, session_id: str = SessionId(), who: Caller = Auth) -> Any:
        info = await ctx.owned_session(who, session_id)
        return (await rt.rename_session(info.id, body.title)).to_dict()

    @v1.delete("/sessions/{session_id}", tags=["sessions"], status_code=204)
    async def delete(session_id: str = SessionId(), who: Caller = Auth) -> Response:
        info = await ctx.owned_session(who, session_id)
        await rt.delete_session(info.id)
        return Response(status_code=204)

    @v1.get("/sessions/{session_id}/export", tags=["sessions"])
    async def export(
        session_id: str = SessionId(),
        format: Literal["md", "json"] = Query(default="md"),
        who: Caller = Auth,
    ) -> Any:
        info = await ctx.owned_session(who, session_id)
        return {"format": format, "content": await rt.export_session(info.id, format)}

    @v1.get("/memory", tags=["memory"], response_model=list[MemoryItem])
    async def memory_list(
        who: Caller = Auth,
        kind: str | None = Query(default=None, max_length=32),
        limit: int = Query(default=100, ge=1, le=1000),
        agent: str | None = Query(default=None, max_length=64),
    ) -> Any:
        items = await rt.memory_list(
            user_id=who.user_id, kind=kind or None, limit=limit, agent=agent or None
        )
        return [m.to_dict() for m in items if m.user_id == who.user_id]

    @v1.get("/memory/search", tags=["memory"], response_model=list[MemoryItem])
    async def memory_search(
        q: str = Query(min_length=1, max_length=2000),
        who: Caller = Auth,
        kind: str | None = Query(default=None, max_length=32),
        limit: int = Query(default=10, ge=1, le=100),
    ) -> Any:
        items = await rt.memory_search(q, user_id=who.user_id, kind=kind or None, limit=limit)
        # The same scope a chat turn recalls: the caller's memories and shared knowledge.
        return [m.to_dict() for m in items if m.user_id in (who.user_id, SHARED_USER)]

    @v1.post("/memory", tags=["memory"], status_code=201, response_model=MemoryItem)
    async def memory_add(body: MemoryAddBody, who: Caller = Auth) -> Any:
        item = await rt.memory_add(
            body.text, user_id=who.user_id, kind=body.kind, replaces=body.replaces
        )
        return item.to_dict()

    # Declared after /memory/search, so "search" is never taken for an id.
    @v1.get("/memory/{memory_id}", tags=["memory"], response_model=MemoryItem)
    async def memory_get(memory_id: str = ObjId(), who: Caller = Auth) -> Any:
        """One of the caller's memories by id or unique id prefix (6+ characters)."""
        item = await rt.memory_get(memory_id, user_id=who.user_id)
        if item.user_id != who.user_id:  # the runtime scopes by user; this is a second lock
            raise NotFoundError(f"no memory {memory_id!r}", hint="see `muxi memory list`")
        return item.to_dict()

    @v1.delete("/memory/{memory_id}", tags=["memory"], status_code=204)
    async def memory_forget(memory_id: str = ObjId(), who: Caller = Auth) -> Response:
        await rt.memory_forget(memory_id, user_id=who.user_id)
        return Response(status_code=204)

    @v1.get("/tools", tags=["tools"], response_model=list[ToolInfo])
    async def tools(
        who: Caller = Auth, agent: str | None = Query(default=None, min_length=1, max_length=64)
    ) -> Any:
        if agent is not None:
            check_agent(who.grants, agent)
        listed = await rt.tools(agent)
        if not who.admin:
            # Only the tools of agents this key may use (its `agent:` scopes).
            listed = [t for t in listed if any(who.grants.may_agent(a) for a in t.agents)]
        return [t.to_dict() for t in listed]

    add_mcp_routes(v1, ctx, Auth)
    add_media_routes(v1, ctx, Auth)

    add_admin_routes(v1, ctx, Auth, ObjId)

    @v1.get("/stats", tags=["stats"], summary="Run statistics (admin: all or ?user=; else own)")
    async def stats(
        who: Caller = Auth,
        since: str | None = Query(default=None, max_length=40),
        by: str = Query(default="agent", max_length=10),
        user: str | None = Query(default=None, max_length=200),
    ) -> Any:
        # A user key sees its own user's runs only, whatever it asks for.
        scope = (user or None) if who.admin else who.user_id
        return (await rt.stats(since=since, by=by, user_id=scope)).to_dict()

    app.include_router(v1)
