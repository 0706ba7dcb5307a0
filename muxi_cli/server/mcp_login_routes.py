"""OAuth logins to MCP servers for the users of ``muxi serve`` (docs/server.md).

Tokens are per muxi user: a user key signs in for itself, and its tool calls
to that MCP server use its own tokens (muxi_cli/tools/mcp_users.py).

- ``POST /v1/mcp/servers/{server_name}/login``: start; answers the authorization URL
  to open in a browser. The redirect URI is this server's
  ``/v1/mcp/oauth/callback`` (``MUXI_PUBLIC_URL`` sets the address when the
  server sits behind a proxy);
- ``GET /v1/mcp/oauth/callback``: where the browser comes back (no key: the
  OAuth ``state`` names the login and its user). It first shows which muxi user
  the login is for and finishes only when that person presses Continue (the
  same address with ``confirm=yes``): a login link started by someone else and
  opened by another user, whose authorization server skips its consent screen,
  does not complete unnoticed;
- ``POST /v1/mcp/servers/{server_name}/login/complete`` ``{"redirect": URL}``: the
  paste-back, for a browser that cannot reach this server;
- ``GET /v1/mcp/servers/{server_name}/login``: this user's state;
- ``DELETE /v1/mcp/servers/{server_name}/login``: forget this user's tokens.
"""

# No ``from __future__ import annotations``: FastAPI reads these signatures.

import os
from typing import Any

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.server.context import Caller, ServerContext
from muxi_cli.server.head import AS_HEAD
from muxi_cli.server.mcp_routes import check_server

CALLBACK = "/v1/mcp/oauth/callback"
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>muxi</title><p>{text}</p>"
    "<p>You can close this tab.</p>"
)


def _formation(ctx: ServerContext) -> Any:
    if ctx.formation is None:
        raise NotFoundError("this server has no formation", hint="MCP logins need one")
    return ctx.formation


def _redirect_uri(request: Any) -> str:
    base = os.environ.get("MUXI_PUBLIC_URL") or str(request.base_url)
    return base.rstrip("/") + CALLBACK


def add_mcp_login_routes(v1: Any, ctx: ServerContext, auth: Any) -> None:
    from fastapi import Path, Request  # deferred: FastAPI is slow to import
    from pydantic import BaseModel, Field  # deferred: as above

    from muxi_cli.runtime import mcp_auth  # deferred: pulls in the MCP SDK's auth

    Name = Path(min_length=1, max_length=64)

    class RedirectBody(BaseModel):
        redirect: str = Field(min_length=1, max_length=8192)

    async def _config(who: Caller, name: str) -> Any:
        await check_server(ctx, who, name)
        return mcp_auth.oauth_server(_formation(ctx), name)

    @v1.post(
        "/mcp/servers/{server_name}/login",
        tags=["tools"],
        summary="Start an OAuth login (per user)",
    )
    async def login_start(request: Request, server_name: str = Name, who: Caller = auth) -> Any:
        name = server_name
        config = await _config(who, name)
        pending = await mcp_auth.remote_logins().start(
            name, config, who.user_id, _redirect_uri(request)
        )
        return {
            "server": name,
            "authorization_url": pending.url,
            "redirect_uri": _redirect_uri(request),
            "login": pending.state(),
        }

    @v1.get("/mcp/oauth/callback", tags=["tools"], summary="The OAuth redirect (browser)")
    async def login_callback(request: Request) -> Any:
        logins = mcp_auth.remote_logins()
        params = dict(request.query_params)
        pending = logins.waiting(str(request.url))
        if pending is None:
            text = "No muxi login is waiting for this answer (it may have expired): start again."
            return _html(_PAGE.format(text=text), 400)
        if request.scope.get(AS_HEAD) or ("error" not in params and params.get("confirm") != "yes"):
            # A HEAD (a link checker, a prefetch) finishes nothing: only a GET does.
            return _html(_confirm_page(pending.server, pending.user, params))
        logins.deliver(str(request.url))
        state = await logins.finish(pending)
        if state == "signed in":
            await _open_connection(pending.server, pending.user)
            ctx_text = f"muxi is signed in to {_escape(pending.server)}."
            return _html(_PAGE.format(text=ctx_text))
        text = f"The login to {pending.server} did not succeed: {state}"
        return _html(_PAGE.format(text=_escape(text)), 400)

    @v1.post(
        "/mcp/servers/{server_name}/login/complete",
        tags=["tools"],
        summary="Finish an OAuth login with the address the browser ended on",
    )
    async def login_complete(
        body: RedirectBody, server_name: str = Name, who: Caller = auth
    ) -> Any:
        name = server_name
        await _config(who, name)
        logins = mcp_auth.remote_logins()
        pending = logins.deliver(body.redirect, who.user_id)
        if pending is None or pending.server != name:
            raise UsageError(
                "no login of this key waits for that address",
                hint=f"start one: POST /v1/mcp/servers/{name}/login",
            )
        state = await logins.finish(pending)
        if state == "signed in":
            await _open_connection(name, who.user_id)
        return {"server": name, "login": state, "auth": _auth(name, who)}

    @v1.get("/mcp/servers/{server_name}/login", tags=["tools"], summary="This user's OAuth state")
    async def login_state(server_name: str = Name, who: Caller = auth) -> Any:
        name = server_name
        await _config(who, name)
        pending = mcp_auth.remote_logins().current(name, who.user_id)
        return {
            "server": name,
            "auth": _auth(name, who),
            "login": pending.state() if pending is not None else None,
        }

    @v1.delete(
        "/mcp/servers/{server_name}/login", tags=["tools"], summary="Forget this user's tokens"
    )
    async def login_forget(server_name: str = Name, who: Caller = auth) -> Any:
        name = server_name
        await _config(who, name)
        host = getattr(ctx.runtime, "tool_host", None)
        if host is not None and hasattr(host, "user_conns"):
            host.user_conns.forget(name, who.user_id)
        return {"server": name, "removed": mcp_auth.user_logout(name, who.user_id)}

    async def _open_connection(name: str, user: str) -> None:
        """The user's own connection, opened now so its tools are offered at once."""
        host = getattr(ctx.runtime, "tool_host", None)
        if host is not None and hasattr(host, "user_conns"):
            config = _formation(ctx).mcp_servers[name]
            await host.user_conns.open(name, config, user)

    def _auth(name: str, who: Caller) -> str | None:
        return mcp_auth.user_auth(_formation(ctx), name, who.user_id)


#: The callback's pages load nothing; the confirmation form goes back to the callback only.
_HEADERS = {
    "content-security-policy": "default-src 'none'; form-action 'self'; base-uri 'none'",
    "referrer-policy": "no-referrer",  # the address holds the authorization code
    "cache-control": "no-store",
}


def _html(page: str, status: int = 200) -> Any:
    from fastapi.responses import HTMLResponse  # deferred: FastAPI is slow to import

    return HTMLResponse(page, status_code=status, headers=_HEADERS)


def _confirm_page(server: str, user: str, params: dict[str, str]) -> str:
    """Whose login this is, and a Continue button that finishes it (``confirm=yes``)."""
    fields = "".join(
        f'<input type=hidden name="{_escape(k)}" value="{_escape(v)}">'
        for k, v in params.items()
        if k in ("code", "state", "iss")
    )
    return (
        "<!doctype html><meta charset=utf-8><title>muxi</title>"
        f"<p>Sign in muxi user <b>{_escape(user)}</b> to <b>{_escape(server)}</b> "
        "with the account you just authorized?</p>"
        "<p>Continue only if you started this login yourself. If someone sent you "
        "this link, close this tab: continuing would give them your access.</p>"
        f'<form method=get action="callback">{fields}'
        "<input type=hidden name=confirm value=yes><button type=submit>Continue</button></form>"
    )


def _escape(text: str) -> str:
    import html  # deferred: only an error page needs it

    return html.escape(text)
