"""The SDK's ``OAuthClientProvider`` as muxi uses it, and the client it registers.

:func:`provider_class` subclasses the provider (on first use: the MCP SDK is
slow to import) for what the SDK leaves out:

- a connection that must not start a login: with no stored tokens a 401 ends
  it at once with :class:`LoginRequired` (no client registration for nothing);
- a stored token's expiry, which the SDK forgets when it loads tokens;
- a step-up scope remembered from an earlier 403, asked for at the next login;
- a hand-registered client's secret, sent the way the server's metadata says.

The flows that use it (a connection's auth, ``muxi mcp login``) are in
:mod:`mcp_oauth`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from muxi_cli.tools.mcp_tokens import client_auth_method

if TYPE_CHECKING:
    from mcp.client.auth import OAuthClientProvider

    from muxi_cli.config.schema import MCPServerConfig


class LoginRequired(Exception):
    """The server wants an authorization that only a person can give."""

    def __init__(self, server: str, user: str | None = None) -> None:
        self.server = server
        hint = (
            f"`muxi mcp login {server}`"
            if user is None
            else f"`muxi mcp login {server}` against this server (user {user})"
        )
        super().__init__(f"login required: run {hint}")


def login_required_in(exc: BaseException) -> LoginRequired | None:
    """The :class:`LoginRequired` inside ``exc`` (exception groups, causes), if any."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, LoginRequired):
            return cur
        if isinstance(cur, BaseExceptionGroup):
            todo.extend(cur.exceptions)
        for nxt in (cur.__cause__, cur.__context__):
            if nxt is not None:
                todo.append(nxt)
    return None


def provider_class() -> type[OAuthClientProvider]:
    """muxi's provider class (made on first call, so only a remote server pays for the SDK)."""
    from mcp.client.auth import OAuthClientProvider  # deferred: the MCP SDK is slow to import

    class MuxiOAuthProvider(OAuthClientProvider):
        """The SDK's provider, remembering a stored token's expiry.

        ``connection_only``: a connection, which must not start a login:
        with no stored tokens, a 401 ends it at once (the SDK would first
        register a client at the authorization server, for nothing).
        """

        connection_only = False
        #: A scope to ask for besides the server's challenge (an earlier step-up).
        extra_scope: str | None = None
        server_name = ""
        user: str | None = None
        on_login_due: Callable[[], None] | None = None

        async def _auth_flow(self, request: Any) -> Any:
            if self.connection_only and not await self._has_tokens():
                response = yield request
                if response.status_code == 401:
                    if self.on_login_due is not None:
                        self.on_login_due()
                    raise LoginRequired(self.server_name, self.user)
                return
            flow = super()._auth_flow(request)
            try:
                outgoing = await flow.__anext__()
                while True:
                    outgoing = await flow.asend((yield outgoing))
            except StopAsyncIteration:
                return

        async def _has_tokens(self) -> bool:
            async with self.context.lock:
                if not self._initialized:
                    await self._initialize()
                return self.context.current_tokens is not None

        async def _perform_authorization_code_grant(self) -> tuple[str, str]:
            from mcp.client.auth.utils import union_scopes  # deferred: the MCP SDK

            # A fresh login starts from the 401's scope, which may be narrower
            # than what a connection was refused for (403 insufficient_scope).
            if self.extra_scope:
                meta = self.context.client_metadata
                meta.scope = union_scopes(meta.scope, self.extra_scope)
            return await super()._perform_authorization_code_grant()

        async def _exchange_token_authorization_code(
            self, auth_code: str, code_verifier: str
        ) -> Any:
            await self._fit_client_auth()
            return await super()._exchange_token_authorization_code(auth_code, code_verifier)

        async def _fit_client_auth(self) -> None:
            """Send a hand-registered client's secret the way the server takes it.

            Known only once its metadata is read (the SDK asks for the record's
            method as it stands). Kept with the tokens: a refresh in a later
            process happens before any metadata is read.
            """
            info, meta = self.context.client_info, self.context.oauth_metadata
            storage = self.context.storage
            if (
                info is None
                or not info.client_secret
                or meta is None
                or getattr(storage, "preset_client", None) is None
            ):
                return
            method = client_auth_method(meta.token_endpoint_auth_methods_supported)
            if method is not None and method != info.token_endpoint_auth_method:
                info.token_endpoint_auth_method = method
                await storage.set_client_info(info)

        async def _initialize(self) -> None:
            await super()._initialize()
            # The SDK loads stored tokens without their expiry, so an expired one
            # would be sent (and fail) instead of refreshed. The storage returns
            # the lifetime that is left; turn it into the deadline.
            if self.context.current_tokens is not None:
                self.context.update_token_expiry(self.context.current_tokens)

    return MuxiOAuthProvider


def preset_client(config: MCPServerConfig, redirect_uri: str) -> Any:
    from mcp.shared.auth import (  # deferred: the MCP SDK is slow to import
        OAuthClientInformationFull,
    )

    oauth = config.oauth
    if not oauth.client_id:
        return None
    return OAuthClientInformationFull(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        redirect_uris=[redirect_uri],  # type: ignore[list-item]
        token_endpoint_auth_method="client_secret_post" if oauth.client_secret else "none",
        grant_types=["authorization_code", "refresh_token"],
    )


def client_metadata(config: MCPServerConfig, redirect_uri: str) -> Any:
    from mcp.shared.auth import OAuthClientMetadata  # deferred: the MCP SDK is slow to import

    return OAuthClientMetadata(
        client_name="muxi",
        redirect_uris=[redirect_uri],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope=config.oauth.scope,
    )
