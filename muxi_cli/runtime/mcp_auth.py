"""``muxi mcp login|logout`` and the stored OAuth state, for the front ends.

Local administration (like :mod:`muxi_cli.runtime.admin`): tokens live in this
machine's keyring. On ``muxi serve`` each muxi user has their own tokens; a
remote user logs in through the server's routes (docs/server.md, "OAuth logins
for MCP servers"), which use :func:`login` with ``user`` set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.runtime.admin import local_formation
from muxi_cli.tools import mcp_oauth, mcp_remote_login, mcp_tokens

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation, MCPServerConfig

__all__ = [
    "LoginResult",
    "OAuthRow",
    "login",
    "logout",
    "oauth_rows",
    "oauth_server",
    "remote_logins",
    "user_auth",
    "user_logout",
]

LoginResult = mcp_oauth.LoginResult


@dataclass(frozen=True, slots=True)
class OAuthRow:
    """One remote server's login, for ``muxi doctor``."""

    server: str
    url: str
    state: str  # mcp_tokens.TokenState
    text: str


def _server(formation: Formation, name: str) -> MCPServerConfig:
    config = formation.mcp_servers.get(name)
    if config is None:
        known = ", ".join(sorted(formation.mcp_servers)) or "none declared"
        raise NotFoundError(f"no MCP server named {name!r}", f"Servers in this formation: {known}.")
    if not config.url:
        raise UsageError(
            f"MCP server {name!r} runs as a local command (stdio): it has no login",
            "OAuth applies to remote servers (`url:` in muxi.yaml).",
        )
    if not mcp_oauth.uses_oauth(config):
        raise UsageError(
            f"OAuth is switched off for MCP server {name!r}",
            "Remove `oauth: {enabled: false}` or the fixed Authorization header in muxi.yaml.",
        )
    return config


async def login(
    profile: str | None,
    config_path: str | None,
    name: str,
    *,
    show_url: Callable[[str], None],
    open_browser: Callable[[str], bool] | None,
    paste: Callable[[], Awaitable[str]] | None,
    timeout: float = 300.0,
) -> LoginResult:
    """Run the browser flow for server ``name`` of this machine's formation."""
    formation, _ = local_formation(
        profile, config_path, "mcp login", "keeps tokens in this machine's keyring"
    )
    config = _server(formation, name)
    return await mcp_oauth.login(
        name,
        config,
        show_url=show_url,
        open_browser=open_browser,
        paste=paste,
        timeout=timeout,
    )


def logout(profile: str | None, config_path: str | None, name: str) -> bool:
    """Forget server ``name``'s tokens here; True if there were any."""
    formation, _ = local_formation(
        profile, config_path, "mcp logout", "keeps tokens in this machine's keyring"
    )
    if name not in formation.mcp_servers:
        _server(formation, name)  # the not-found error
    return mcp_tokens.forget(name)


def oauth_rows(formation: Formation) -> list[OAuthRow]:
    """The stored login of every remote OAuth server (no network)."""
    rows = []
    for name, config in formation.mcp_servers.items():
        if not config.enabled or not mcp_oauth.uses_oauth(config):
            continue
        assert config.url is not None
        stored = mcp_tokens.stored_state(name, config.url)
        rows.append(OAuthRow(name, config.url, stored.state, stored.describe()))
    return rows


# -- logins of remote users, through `muxi serve` -------------------------------

_REMOTE: mcp_remote_login.RemoteLogins | None = None


def remote_logins() -> mcp_remote_login.RemoteLogins:
    """This server process's logins in progress (one registry per process)."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = mcp_remote_login.RemoteLogins()
    return _REMOTE


def oauth_server(formation: Formation, name: str) -> MCPServerConfig:
    """The config of remote OAuth server ``name`` (errors say why it is not one)."""
    return _server(formation, name)


def user_auth(formation: Formation, name: str, user: str) -> str | None:
    """``oauth: signed in`` / ``expired`` / ``not signed in`` for ``user`` on this server."""
    config = formation.mcp_servers.get(name)
    if config is None or not mcp_oauth.uses_oauth(config):
        return None
    assert config.url is not None
    return mcp_tokens.stored_state(name, config.url, user).describe()


def user_logout(name: str, user: str) -> bool:
    return mcp_tokens.forget(name, user)
