"""A small OAuth 2.1 authorization server and an MCP server it protects, in one process.

    python tests/mcp_servers/oauth_server.py --port N [--ttl SECONDS]

Serves, on 127.0.0.1:N:

- ``/mcp``: an MCP server (streamable HTTP) that answers 401 with a
  ``WWW-Authenticate: Bearer resource_metadata=...`` header unless the request
  carries a live access token. Its tools: ``whoami`` (the user the token was
  issued to) and ``echo``; its resources ``oauth://whoami/{anything}`` (the same user).
- the protected resource metadata (RFC 9728) and authorization server metadata
  (RFC 8414) documents at their well-known addresses;
- ``/register`` (dynamic client registration, RFC 7591), ``/authorize`` (the
  authorization code grant with PKCE S256 only; it approves at once, as the
  user named by ``?user=`` or "alice", so a test can drive it without a
  browser), ``/token`` (``authorization_code`` and ``refresh_token``, refresh
  tokens rotate);
- ``--preset ID SECRET REDIRECT``: a client registered by hand (``client_secret_post``,
  or ``client_secret_basic`` with ``--client-auth``: the only secret method listed);
- for tests: ``POST /admin/expire`` (every access token stops working now, as
  if its lifetime ran out), ``POST /admin/revoke`` (every access and refresh
  token is revoked), ``POST /admin/require-scope?scope=S`` (tokens without S
  get 403 insufficient_scope naming it: a scope step-up) and ``GET /admin/stats``
  (what happened so far).

Written for the test suite only: no persistence, no consent screen.
"""

import argparse
import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class Grant:
    user: str
    client_id: str
    scope: str
    expires_at: float
    revoked: bool = False


@dataclass
class State:
    base: str
    ttl: int
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)
    #: A scope every MCP request needs besides "mcp" (``/admin/require-scope``).
    required_scope: str | None = None
    stats: dict[str, int] = field(
        default_factory=lambda: {"registrations": 0, "codes": 0, "refreshes": 0, "rejected": 0}
    )

    def live_grant(self, authorization: str) -> Grant | None:
        scheme, _, token = authorization.partition(" ")
        grant = self.access.get(token) if scheme.lower() == "bearer" else None
        if grant is None or grant.revoked or grant.expires_at <= time.time():
            return None
        return grant

    def live_user(self, authorization: str) -> str | None:
        grant = self.live_grant(authorization)
        return grant.user if grant is not None else None

    def issue(self, user: str, client_id: str, scope: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access[access] = Grant(user, client_id, scope, time.time() + self.ttl)
        self.refresh[refresh] = Grant(user, client_id, scope, time.time() + 86400)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.ttl,
            "refresh_token": refresh,
            "scope": scope,
        }


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _client_credentials(headers: Any, form: Any) -> tuple[str, str, str]:
    """``(client id, secret, method)`` of a token request: HTTP Basic, or in the form."""
    scheme, _, value = str(headers.get("authorization", "")).partition(" ")
    if scheme.lower() == "basic":
        raw = base64.b64decode(value.encode()).decode()
        client_id, _, secret = raw.partition(":")
        return unquote(client_id), unquote(secret), "client_secret_basic"
    secret = str(form.get("client_secret", ""))
    method = "client_secret_post" if secret else "none"
    return str(form.get("client_id", "")), secret, method


def build_app(
    port: int, ttl: int, preset: list[str] | None = None, client_auth: str = "client_secret_post"
) -> Any:
    base = f"http://127.0.0.1:{port}"
    st = State(base=base, ttl=ttl)
    if preset:  # a client registered by hand: id, secret, redirect URI
        client_id, secret, redirect = preset
        st.clients[client_id] = {
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": client_auth,
        }
    prm_url = f"{base}/.well-known/oauth-protected-resource/mcp"

    mcp = MCPServer("oauth-demo", log_level="WARNING")

    @mcp.tool()
    def whoami(ctx: Context) -> str:
        """The user this connection's access token was issued to."""
        return st.live_user((ctx.headers or {}).get("authorization", "")) or "nobody"

    @mcp.resource("oauth://whoami/{what}")
    def whoami_resource(what: str, ctx: Context) -> str:
        """The user of this connection's token, as a resource."""
        return st.live_user((ctx.headers or {}).get("authorization", "")) or "nobody"

    @mcp.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp")

    def error(code: str, status: int = 400, detail: str = "") -> JSONResponse:
        return JSONResponse({"error": code, "error_description": detail}, status_code=status)

    async def prm(_: Request) -> Response:
        return JSONResponse(
            {
                "resource": f"{base}/mcp",
                "authorization_servers": [base],
                "scopes_supported": ["mcp"],
                "bearer_methods_supported": ["header"],
            }
        )

    async def asm(_: Request) -> Response:
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "registration_endpoint": f"{base}/register",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none", client_auth],
                "scopes_supported": ["mcp"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def register(request: Request) -> Response:
        body = await request.json()
        uris = body.get("redirect_uris") or []
        if not uris:
            return error("invalid_redirect_uri", detail="redirect_uris is required")
        client_id = "client-" + secrets.token_hex(6)
        record = {
            **body,
            "client_id": client_id,
            "client_id_issued_at": int(time.time()),
            "token_endpoint_auth_method": "none",
        }
        record.pop("client_secret", None)
        st.clients[client_id] = record
        st.stats["registrations"] += 1
        return JSONResponse(record, status_code=201)

    async def authorize(request: Request) -> Response:
        q = request.query_params
        client = st.clients.get(q.get("client_id", ""))
        if client is None:
            return error("invalid_client", detail="unknown client_id")
        redirect = q.get("redirect_uri", "")
        if redirect not in client["redirect_uris"]:
            return error("invalid_request", detail="redirect_uri was not registered")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return error("invalid_request", detail="PKCE with S256 is required")
        code = secrets.token_urlsafe(16)
        st.codes[code] = {
            "client_id": client["client_id"],
            "redirect_uri": redirect,
            "challenge": q["code_challenge"],
            "user": q.get("user", "alice"),
            "scope": q.get("scope", "mcp"),
        }
        st.stats["codes"] += 1
        params = {"code": code, "state": q.get("state", ""), "iss": base}
        return RedirectResponse(f"{redirect}?{urlencode(params)}", status_code=302)

    async def token(request: Request) -> Response:
        form = await request.form()
        grant_type = form.get("grant_type")
        client_id, secret, method = _client_credentials(request.headers, form)
        client = st.clients.get(client_id)
        # The secret must come the way the client was registered (RFC 6749 §2.3.1).
        if (
            client is None
            or client.get("client_secret", "") != secret
            or client.get("token_endpoint_auth_method", "none") != method
        ):
            return error("invalid_client", 401)
        if grant_type == "authorization_code":
            code = st.codes.pop(str(form.get("code", "")), None)
            if code is None or code["client_id"] != client_id:
                return error("invalid_grant", detail="unknown or used code")
            if code["redirect_uri"] != form.get("redirect_uri"):
                return error("invalid_grant", detail="redirect_uri mismatch")
            if _challenge(str(form.get("code_verifier", ""))) != code["challenge"]:
                return error("invalid_grant", detail="PKCE verification failed")
            return JSONResponse(st.issue(code["user"], client_id, code["scope"]))
        if grant_type == "refresh_token":
            old = st.refresh.pop(str(form.get("refresh_token", "")), None)
            if old is None or old.revoked or old.client_id != client_id:
                st.stats["rejected"] += 1
                return error("invalid_grant", detail="refresh token is not valid")
            st.stats["refreshes"] += 1
            return JSONResponse(st.issue(old.user, client_id, old.scope))
        return error("unsupported_grant_type")

    async def expire(_: Request) -> Response:
        for grant in st.access.values():
            grant.expires_at = 0
        return JSONResponse({"ok": True})

    async def revoke(_: Request) -> Response:
        for grant in [*st.access.values(), *st.refresh.values()]:
            grant.revoked = True
        return JSONResponse({"ok": True})

    async def stats(_: Request) -> Response:
        return JSONResponse(st.stats)

    async def require_scope(request: Request) -> Response:
        st.required_scope = request.query_params.get("scope") or None
        return JSONResponse({"ok": True})

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        """The MCP endpoint: a live bearer token, or 401 pointing at the metadata."""
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        if st.live_user(headers.get("authorization", "")) is None:
            st.stats["rejected"] += 1 if headers.get("authorization") else 0
            challenge = f'Bearer resource_metadata="{prm_url}", scope="mcp"'
            if headers.get("authorization"):
                challenge += ', error="invalid_token"'
            response = JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
            await response(scope, receive, send)
            return
        grant = st.live_grant(headers.get("authorization", ""))
        wanted = st.required_scope
        if grant is not None and wanted and wanted not in grant.scope.split():
            receive, body = await _replayable(receive)
            calls_tool = b'"tools/call"' in body  # only calls need the wider scope
        else:
            calls_tool = False
        if calls_tool:
            # A scope step-up (RFC 6750 §3.1): the token is good but too narrow.
            challenge = (
                f'Bearer error="insufficient_scope", scope="mcp {wanted}", '
                f'resource_metadata="{prm_url}"'
            )
            response = JSONResponse(
                {"error": "insufficient_scope"},
                status_code=403,
                headers={"WWW-Authenticate": challenge},
            )
            await response(scope, receive, send)
            return
        await mcp_app(scope, receive, send)

    async def _replayable(receive: Any) -> tuple[Any, bytes]:
        """The request's body, and a ``receive`` that hands it over again."""
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(m.get("body", b"") for m in messages)
        queue = [{"type": "http.request", "body": body, "more_body": False}]

        async def again() -> Any:
            return queue.pop(0) if queue else await receive()

        return again, body

    routes = Starlette(
        routes=[
            Route("/.well-known/oauth-protected-resource/mcp", prm),
            Route("/.well-known/oauth-protected-resource", prm),
            Route("/.well-known/oauth-authorization-server", asm),
            Route("/register", register, methods=["POST"]),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
            Route("/admin/expire", expire, methods=["POST"]),
            Route("/admin/revoke", revoke, methods=["POST"]),
            Route("/admin/stats", stats),
            Route("/admin/require-scope", require_scope, methods=["POST"]),
        ],
        lifespan=lambda _app: mcp_app.router.lifespan_context(mcp_app),
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == "/mcp":
            await guarded(scope, receive, send)
        else:
            await routes(scope, receive, send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttl", type=int, default=3600, help="access token lifetime (s)")
    parser.add_argument(
        "--preset", nargs=3, metavar=("ID", "SECRET", "REDIRECT"), help="a hand-registered client"
    )
    parser.add_argument(
        "--client-auth",
        choices=["client_secret_post", "client_secret_basic"],
        default="client_secret_post",
        help="how the hand-registered client sends its secret (the only secret method listed)",
    )
    opts = parser.parse_args()
    import uvicorn

    uvicorn.run(
        build_app(opts.port, opts.ttl, opts.preset, opts.client_auth),
        host="127.0.0.1",
        port=opts.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
