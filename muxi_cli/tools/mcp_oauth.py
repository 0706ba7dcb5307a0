"""OAuth 2.1 for remote MCP servers, over the SDK's ``OAuthClientProvider``.

The SDK does the protocol (discovery from the 401's ``WWW-Authenticate``
resource metadata, then the authorization server's metadata; dynamic client
registration; PKCE; the token exchange; refresh before an expired token is
used). muxi adds what is around it:

- tokens in the keyring, per server and per muxi user (:mod:`mcp_tokens`);
- an expiry that survives a restart (the SDK forgets it when it loads tokens);
- two ways to answer "the user must authorize":
  * a connection (chat, ``muxi serve``, ``muxi mcp list``) never opens a
    browser: :class:`LoginRequired` ends the attempt and the server's state says
    "run ``muxi mcp login NAME``";
  * :func:`login` (``muxi mcp login NAME``) runs the browser flow with a
    loopback redirect (:mod:`mcp_loopback`), prints the URL, opens a browser
    when it can and accepts the redirected address pasted back.

The SDK's provider as muxi adapts it (and :class:`LoginRequired`) is in
:mod:`mcp_oauth_provider`; this module holds the flows around it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from muxi_cli.tools.mcp_oauth_provider import (
    LoginRequired,
    client_metadata,
    login_required_in,
    preset_client,
    provider_class,
)
from muxi_cli.tools.mcp_tokens import KeyringTokenStorage

if TYPE_CHECKING:
    from mcp.shared.auth import AuthorizationCodeResult

    from muxi_cli.config.schema import MCPServerConfig

#: The loopback host of the redirect (RFC 8252 §7.3: an IP literal, not "localhost").
LOOPBACK = "127.0.0.1"
CALLBACK_PATH = "/callback"


def uses_oauth(config: MCPServerConfig) -> bool:
    """Whether a 401 from this server starts the OAuth flow.

    Remote servers only, with ``oauth.enabled`` (the default), and not when the
    configured headers already carry an ``Authorization`` (a fixed token wins).
    """
    if not config.url or not config.oauth.enabled:
        return False
    return not any(k.lower() == "authorization" for k in config.headers)


def redirect_uri_for(port: int) -> str:
    return f"http://{LOOPBACK}:{port}{CALLBACK_PATH}"


def connection_auth(
    name: str,
    config: MCPServerConfig,
    user: str | None = None,
    on_login_due: Callable[[], None] | None = None,
) -> Any:
    """The httpx2 auth of a connection: stored tokens, refreshed; never a browser.

    ``on_login_due`` is told when the server wants a login (the failure itself
    may reach the connection only as "connection closed").
    """
    assert config.url is not None

    async def needs_person(url: str) -> None:
        # The scope the SDK would ask for (on a 403 step-up: the granted one and
        # the one the server named): `muxi mcp login` asks for it too.
        storage.set_wanted_scope(parse_qs(urlsplit(url).query).get("scope", [None])[0])
        if on_login_due is not None:
            on_login_due()
        raise LoginRequired(name, user)

    async def no_callback() -> AuthorizationCodeResult:  # pragma: no cover - never reached
        raise LoginRequired(name, user)

    # The redirect address only matters for a login; a connection never redirects.
    redirect = redirect_uri_for(config.oauth.redirect_port or 1)
    storage = KeyringTokenStorage(name, config.url, user, preset_client(config, redirect))
    provider: Any = provider_class()(
        server_url=config.url,
        client_metadata=client_metadata(config, redirect),
        storage=storage,
        redirect_handler=needs_person,
        callback_handler=no_callback,
    )
    provider.connection_only = True
    provider.server_name, provider.user = name, user
    provider.on_login_due = on_login_due
    return provider


@dataclass(slots=True)
class LoginResult:
    tool_count: int
    server_name: str


async def login(
    name: str,
    config: MCPServerConfig,
    *,
    show_url: Callable[[str], None],
    open_browser: Callable[[str], bool] | None = None,
    paste: Callable[[], Awaitable[str]] | None = None,
    user: str | None = None,
    timeout: float = 300.0,
) -> LoginResult:
    """Authorize muxi at ``config.url`` with a loopback redirect and keep the tokens.

    ``show_url`` gets the authorization URL (always printed); ``open_browser``
    tries a browser; ``paste`` (when given) waits for the redirected address
    pasted back by a person whose browser cannot reach this machine's loopback.
    """
    from muxi_cli.tools.mcp_loopback import Loopback

    async with Loopback(LOOPBACK, config.oauth.redirect_port, CALLBACK_PATH) as loop_back:

        async def on_redirect(url: str) -> None:
            loop_back.expect(url)  # only this login's answer, not any local request
            show_url(url)
            if open_browser is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(open_browser, url)

        async def wait_redirect() -> str:
            waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(loop_back.wait())]
            if paste is not None:
                waiters.append(asyncio.ensure_future(paste()))
            try:
                done, _ = await asyncio.wait(
                    waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for w in waiters:
                    w.cancel()
            if not done:
                raise TimeoutError(f"no authorization arrived within {timeout:g}s")
            return str(next(iter(done)).result())

        return await authorize(
            name, config, user, redirect_uri_for(loop_back.port), on_redirect, wait_redirect
        )


async def authorize(
    name: str,
    config: MCPServerConfig,
    user: str | None,
    redirect: str,
    on_redirect: Callable[[str], Awaitable[None]],
    wait_redirect: Callable[[], Awaitable[str]],
) -> LoginResult:
    """The authorization code flow with ``redirect`` as the redirect URI; tokens kept.

    ``on_redirect`` gets the authorization URL; ``wait_redirect`` returns the
    address (or query) the browser was sent back to. Connects once to prove
    the tokens and returns what the server offers.
    """
    from mcp import Client  # deferred: the MCP SDK is slow to import
    from mcp.shared.auth import AuthorizationCodeResult  # deferred: as above

    from muxi_cli.tools.mcp_loopback import parse_redirect

    assert config.url is not None
    storage = KeyringTokenStorage(name, config.url, user, preset_client(config, redirect))
    wanted_scope = storage.wanted_scope()
    client_info = await storage.get_client_info()
    if client_info is not None and redirect not in [
        str(u) for u in client_info.redirect_uris or []
    ]:
        # Registered for another redirect address (loopback ports change per login).
        await storage.drop_client_info()
    # A fresh start: the old tokens are not sent, so the server asks again.
    await storage.forget_tokens()

    async def on_callback() -> AuthorizationCodeResult:
        params = parse_redirect(await wait_redirect())
        if params.get("error"):
            detail = params.get("error_description") or params["error"]
            raise PermissionError(f"the authorization server refused: {detail}")
        return AuthorizationCodeResult(
            code=params.get("code", ""), state=params.get("state"), iss=params.get("iss")
        )

    provider: Any = provider_class()(
        server_url=config.url,
        client_metadata=client_metadata(config, redirect),
        storage=storage,
        redirect_handler=on_redirect,
        callback_handler=on_callback,
    )
    provider.extra_scope = wanted_scope
    async with Client(_authed_transport(config, provider)) as client:
        tools = await client.list_tools()
        info = client.server_info
    storage.set_wanted_scope(None)  # granted now
    return LoginResult(len(tools.tools), info.name if info else name)


def _authed_transport(config: MCPServerConfig, auth: Any) -> Any:
    """The configured transport of ``config`` with ``auth`` on its HTTP client."""
    assert config.url is not None
    headers = dict(config.headers)
    if config.transport == "sse":
        from mcp.client.sse import sse_client  # deferred: the MCP SDK is slow to import

        return sse_client(config.url, headers=headers or None, auth=auth)
    return _http(config.url, headers, auth)


@contextlib.asynccontextmanager
async def _http(url: str, headers: dict[str, str], auth: Any) -> Any:
    from mcp.client.streamable_http import (  # deferred: the MCP SDK is slow to import
        streamable_http_client,
    )
    from mcp.shared._httpx_utils import create_mcp_http_client  # deferred: as above

    async with (
        create_mcp_http_client(headers=headers or None, auth=auth) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


def transport_with_oauth(
    name: str,
    config: MCPServerConfig,
    user: str | None = None,
    on_login_due: Callable[[], None] | None = None,
) -> Any | None:
    """The connection's transport when OAuth applies to it (None: not an OAuth server)."""
    if not uses_oauth(config):
        return None
    return _authed_transport(config, connection_auth(name, config, user, on_login_due))


def settled_state(
    name: str, config: MCPServerConfig, user: str | None, exc: BaseException | None
) -> tuple[str | None, str | None]:
    """``(auth state, failure text)`` of a connection that just became ready or failed.

    Reads the keyring once per settle, never per status poll.
    """
    from muxi_cli.tools.mcp_tokens import stored_state

    if not uses_oauth(config):
        return None, None
    assert config.url is not None
    if exc is not None:
        needed = login_required_in(exc)
        if needed is not None:
            return "oauth: login required", str(needed)
        return None, None
    stored = stored_state(name, config.url, user)
    return (stored.describe() if stored.state != "not signed in" else None), None
