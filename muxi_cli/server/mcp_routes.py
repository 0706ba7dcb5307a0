"""The MCP routes of ``/v1``: servers, prompts and resources.

Prompts and resources follow the rules tools follow: a user key reaches only
the servers of agents it may use, never a server whose policy is ``deny``;
every other server is for admin keys. A server's stderr tail and launch
details are shown to admin keys only.

Errors: a bad name or URI is a 4xx; a failing MCP server is a 502 that names
the server.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

import contextlib
from collections.abc import Iterator
from typing import Any

from muxi_cli.errors import ForbiddenError, MuxiError, NotFoundError, ToolError, UsageError
from muxi_cli.protocol.records import ServerInfo
from muxi_cli.server.context import Caller, ServerContext
from muxi_cli.server.models import PromptBody

#: JSON-RPC codes an MCP server uses for a caller's mistake (not its own failure).
_INVALID_PARAMS = -32602
_METHOD_NOT_FOUND = -32601
_RESOURCE_NOT_FOUND = -32002
#: The fields of a server's status every key may see.
_PUBLIC_FIELDS = (
    "name",
    "transport",
    "state",
    "tool_count",
    "started_ms",
    "error",
    "approval",
    "auth",
)


class UpstreamError(MuxiError):
    """An MCP server failed to answer (502: the gateway is fine, the upstream is not)."""

    code = "mcp_server_error"
    http_status = 502


@contextlib.contextmanager
def acting_as(caller: Caller) -> Iterator[None]:
    """Prompts and resources of an OAuth MCP server are fetched with the caller's own
    tokens (the tool host reads the caller as it does for tool calls)."""
    from muxi_cli.tools.base import CURRENT_CALLER, ToolCaller  # deferred: a plain dataclass

    token = CURRENT_CALLER.set(ToolCaller(caller.user_id, caller.tool_role))
    try:
        yield
    finally:
        CURRENT_CALLER.reset(token)


def agent_allowed(caller: Caller, agent: str) -> bool:
    """Whether ``caller`` may use ``agent`` (its key's ``agent:`` scopes)."""
    return caller.admin or caller.grants.may_agent(agent)


async def visible_servers(ctx: ServerContext, caller: Caller) -> set[str] | None:
    """The MCP servers ``caller`` may see listed: those of its agents (None: all)."""
    if caller.admin:
        return None
    names: set[str] = set()
    for agent in await ctx.runtime.agents():
        if agent_allowed(caller, agent.name):
            names.update(agent.mcp_servers)
    return names


async def usable_servers(ctx: ServerContext, caller: Caller) -> set[str] | None:
    """The MCP servers whose prompts and resources ``caller`` may use (None: all)."""
    if caller.admin:
        return None
    policies = {s.name: s.approval for s in await ctx.runtime.mcp_servers()}
    usable: set[str] = set()
    for agent in await ctx.runtime.agents():
        if not agent_allowed(caller, agent.name):
            continue
        # An unknown policy counts as deny: fail closed.
        usable.update(s for s in agent.mcp_servers if policies.get(s, "deny") != "deny")
    return usable


async def check_server(ctx: ServerContext, caller: Caller, server: str) -> None:
    allowed = await usable_servers(ctx, caller)
    if allowed is None or server in allowed:
        return
    if server not in {s.name for s in await ctx.runtime.mcp_servers()}:
        raise NotFoundError(f"no MCP server named {server!r}", hint="see GET /v1/mcp/servers")
    raise ForbiddenError(
        f"the MCP server {server!r} is not available to this key",
        hint="user keys reach the servers of their agents unless the policy is deny; "
        "ask the server's admin",
    )


def public_status(status: dict[str, Any], admin: bool) -> dict[str, Any]:
    """What a key sees of a server: admins everything, users no stderr or launch details."""
    if admin:
        return status
    out = {k: status.get(k) for k in _PUBLIC_FIELDS if k in status}
    error = out.get("error")
    if isinstance(error, str):
        # The first line says what went wrong; the stderr tail below it may hold secrets.
        out["error"] = error.split("\n", 1)[0]
    return out


def upstream_error(server: str, exc: ToolError, admin: bool = True) -> MuxiError:
    """A ToolError from an MCP request as the right HTTP error.

    Only admin keys see more than the first line (a stderr tail may follow it).
    """
    cause = exc.__cause__
    if not admin:
        exc = ToolError(exc.message.split("\n", 1)[0], exc.hint)
    code = getattr(getattr(cause, "error", None), "code", None)
    if code in (_INVALID_PARAMS, _RESOURCE_NOT_FOUND):
        return NotFoundError(exc.message, hint=f"see what {server!r} offers under /v1/mcp")
    if code == _METHOD_NOT_FOUND:
        return NotFoundError(
            f"the MCP server {server!r} does not offer this: {exc.message}", hint=exc.hint
        )
    return UpstreamError(f"the MCP server {server!r} failed: {exc.message}", hint=exc.hint)


async def _listing(ctx: ServerContext, caller: Caller, server: str | None, kind: str) -> Any:
    rt = ctx.runtime
    fetch = rt.mcp_prompts if kind == "prompts" else rt.mcp_resources
    if server is not None:
        await check_server(ctx, caller, server)
        try:
            return await fetch(server)
        except ToolError as exc:
            raise upstream_error(server, exc, caller.admin) from None
    allowed = await usable_servers(ctx, caller)
    if allowed is None:
        try:
            return await fetch(None)
        except ToolError:  # one broken server: list the others one by one
            allowed = {s.name for s in await rt.mcp_servers() if s.state == "ready"}
    ready = {s.name for s in await rt.mcp_servers() if s.state == "ready"}
    out: list[dict[str, Any]] = []
    for name in sorted(allowed & ready):
        try:
            out += await fetch(name)
        except (ToolError, NotFoundError):
            continue  # e.g. a server without prompts; the listing shows the rest
    return out


async def _check_prompt(ctx: ServerContext, body: PromptBody, admin: bool) -> None:
    """Unknown prompts and missing arguments are the caller's mistake: 4xx, not upstream."""
    try:
        prompts = await ctx.runtime.mcp_prompts(body.server)
    except ToolError as exc:
        raise upstream_error(body.server, exc, admin) from None
    found = next((p for p in prompts if p.get("name") == body.name), None)
    if found is None:
        raise NotFoundError(
            f"the MCP server {body.server!r} has no prompt named {body.name!r}",
            hint=f"list them with GET /v1/mcp/prompts?server={body.server}",
        )
    given = body.arguments or {}
    missing = [
        str(a.get("name"))
        for a in found.get("arguments") or []
        if a.get("required") and a.get("name") not in given
    ]
    if missing:
        raise UsageError(
            f"the prompt {body.name!r} needs the arguments: {', '.join(missing)}",
            hint="send them in 'arguments'",
        )


def add_mcp_routes(v1: Any, ctx: ServerContext, auth: Any) -> None:
    from fastapi import Query  # deferred: FastAPI is slow to import

    from muxi_cli.server.mcp_login_routes import add_mcp_login_routes  # deferred: cycle

    rt = ctx.runtime
    Server = Query(default=None, min_length=1, max_length=64)
    add_mcp_login_routes(v1, ctx, auth)

    @v1.get(
        "/mcp/servers",
        tags=["tools"],
        response_model=list[ServerInfo],
        summary="MCP servers and their state (stderr tails for admin keys only)",
    )
    async def mcp_servers(who: Caller = auth) -> Any:
        visible = await visible_servers(ctx, who)
        listed = [
            public_status(s.to_dict(), who.admin)
            for s in await rt.mcp_servers()
            if visible is None or s.name in visible
        ]
        # The machine's owner (the warm host) signs in locally: the connection says.
        if ctx.formation is not None and not who.owner:
            from muxi_cli.runtime.mcp_auth import user_auth  # deferred: only with a formation

            for s in listed:  # an OAuth server's login is this user's own (per-user tokens)
                s["auth"] = user_auth(ctx.formation, s["name"], who.user_id) or s.get("auth")
        return listed

    @v1.get("/mcp/prompts", tags=["tools"], summary="Prompts of one or every usable MCP server")
    async def mcp_prompts(who: Caller = auth, server: str | None = Server) -> Any:
        with acting_as(who):
            return await _listing(ctx, who, server, "prompts")

    @v1.post("/mcp/prompts/render", tags=["tools"], summary="Render an MCP prompt to text")
    async def mcp_prompt(body: PromptBody, who: Caller = auth) -> Any:
        await check_server(ctx, who, body.server)
        with acting_as(who):
            await _check_prompt(ctx, body, who.admin)
        try:
            with acting_as(who):
                text = await rt.mcp_get_prompt(body.server, body.name, body.arguments)
        except ToolError as exc:
            raise upstream_error(body.server, exc, who.admin) from None
        return {"text": text}

    @v1.get("/mcp/resources", tags=["tools"], summary="Resources of one or every usable MCP server")
    async def mcp_resources(who: Caller = auth, server: str | None = Server) -> Any:
        with acting_as(who):
            return await _listing(ctx, who, server, "resources")

    @v1.get("/mcp/resources/read", tags=["tools"], summary="Read an MCP resource as text")
    async def mcp_read(
        who: Caller = auth,
        server: str = Query(min_length=1, max_length=64),
        uri: str = Query(min_length=1, max_length=4096),
    ) -> Any:
        await check_server(ctx, who, server)
        if any(ord(ch) < 32 for ch in uri):
            # Control characters are never part of a URI (RFC 3986).
            raise UsageError("the uri holds control characters", hint="percent-encode them")
        try:
            with acting_as(who):
                text = await rt.mcp_read_resource(server, uri)
        except ToolError as exc:
            raise upstream_error(server, exc, who.admin) from None
        return {"server": server, "uri": uri, "text": text}
