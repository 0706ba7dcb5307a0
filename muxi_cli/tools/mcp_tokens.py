"""OAuth tokens of remote MCP servers, kept in the keyring (muxi_cli.secrets).

One secret per server, and on ``muxi serve`` one per server *and muxi user*
(tokens are never shared between users): ``mcp-oauth:NAME`` or
``mcp-oauth:NAME@user:USER_ID``. The secret is a JSON record with the server's
URL (a record made for another URL is ignored, so pointing a server entry at a
new address asks for a new login), the token response, when it was obtained
(so an expiry survives a restart) and the registered client.

:class:`KeyringTokenStorage` is the SDK's ``TokenStorage`` protocol over it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli import secrets

if TYPE_CHECKING:
    from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

PREFIX = "mcp-oauth:"

TokenState = Literal["signed in", "expired", "not signed in"]


def client_auth_method(supported: list[str] | None) -> str | None:
    """How a client secret goes to the token endpoint, from the server's metadata.

    ``client_secret_basic`` when listed, or when the list is absent (RFC 8414
    §2: the default); else ``client_secret_post`` when listed; None: neither
    (the record's own method stays).
    """
    if supported is None or "client_secret_basic" in supported:
        return "client_secret_basic"
    return "client_secret_post" if "client_secret_post" in supported else None


def secret_name(server: str, user: str | None = None) -> str:
    """The keyring name of ``server``'s tokens (for ``user`` on a server)."""
    return f"{PREFIX}{server}" + (f"@user:{user}" if user else "")


def _load(name: str, url: str) -> dict[str, Any]:
    raw = secrets.get_secret(name)
    if not raw:
        return {}
    try:
        record = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(record, dict) or record.get("url") != url:
        return {}
    return record


def _save(name: str, url: str, record: dict[str, Any]) -> None:
    record["url"] = url
    secrets.set_secret(name, json.dumps(record, sort_keys=True))


@dataclass(frozen=True, slots=True)
class Stored:
    """What ``muxi mcp list`` and ``muxi doctor`` say about a server's login."""

    state: TokenState
    #: Seconds the access token has left (None: no expiry given, or no token).
    expires_in: float | None = None
    refreshable: bool = False

    def describe(self) -> str:
        if self.state == "not signed in":
            return "oauth: not signed in"
        if self.state == "expired":
            return "oauth: expired, will refresh" if self.refreshable else "oauth: expired"
        return "oauth: signed in"


def stored_state(server: str, url: str, user: str | None = None) -> Stored:
    """The stored login of ``server`` (no network: what the keyring holds)."""
    record = _load(secret_name(server, user), url)
    tokens = record.get("tokens")
    if not isinstance(tokens, dict) or not tokens.get("access_token"):
        return Stored("not signed in")
    refreshable = bool(tokens.get("refresh_token"))
    left = _left(tokens, record)
    if left is not None and left <= 0:
        return Stored("expired", 0, refreshable)
    return Stored("signed in", left, refreshable)


def _left(tokens: dict[str, Any], record: dict[str, Any]) -> float | None:
    expires_in = tokens.get("expires_in")
    if expires_in is None:
        return None
    try:
        return float(expires_in) - (time.time() - float(record.get("obtained_at", 0)))
    except (TypeError, ValueError):
        return 0.0


def forget(server: str, user: str | None = None) -> bool:
    """Delete ``server``'s tokens and client registration; True if there were any."""
    return secrets.delete_secret(secret_name(server, user))


class KeyringTokenStorage:
    """The SDK's ``TokenStorage`` for one server (and one muxi user on a server)."""

    def __init__(
        self,
        server: str,
        url: str,
        user: str | None = None,
        preset_client: OAuthClientInformationFull | None = None,
    ) -> None:
        self.name = secret_name(server, user)
        self.url = url
        #: A client registered by hand (``oauth.client_id``): used instead of a stored one.
        self.preset_client = preset_client

    async def get_tokens(self) -> OAuthToken | None:
        from mcp.shared.auth import OAuthToken  # deferred: the MCP SDK is slow to import

        record = _load(self.name, self.url)
        tokens = record.get("tokens")
        if not isinstance(tokens, dict):
            return None
        token = OAuthToken.model_validate(tokens)
        left = _left(tokens, record)
        if left is not None:
            # What is left of the lifetime, so the SDK refreshes an expired token
            # instead of presenting it (see mcp_oauth_provider.MuxiOAuthProvider._initialize).
            token.expires_in = max(0, int(left))
        return token

    async def set_tokens(self, tokens: OAuthToken) -> None:
        record = _load(self.name, self.url)
        record["tokens"] = tokens.model_dump(mode="json", exclude_none=True)
        record["obtained_at"] = time.time()
        _save(self.name, self.url, record)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        from mcp.shared.auth import (  # deferred: the MCP SDK is slow to import
            OAuthClientInformationFull,
        )

        info = _load(self.name, self.url).get("client")
        if self.preset_client is not None:
            preset = self.preset_client
            # The method chosen at login from the server's metadata (mcp_oauth).
            if isinstance(info, dict) and info.get("client_id") == preset.client_id:
                method = info.get("token_endpoint_auth_method")
                if method in ("client_secret_basic", "client_secret_post"):
                    preset.token_endpoint_auth_method = method
            return preset
        return OAuthClientInformationFull.model_validate(info) if isinstance(info, dict) else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        record = _load(self.name, self.url)
        record["client"] = client_info.model_dump(mode="json", exclude_none=True)
        _save(self.name, self.url, record)

    async def drop_client_info(self) -> None:
        """Forget the registered client (its redirect address no longer applies)."""
        record = _load(self.name, self.url)
        if record.pop("client", None) is not None:
            _save(self.name, self.url, record)

    def wanted_scope(self) -> str | None:
        """The scope a connection was last asked to get (a 403 step-up names a wider one)."""
        scope = _load(self.name, self.url).get("scope_wanted")
        return scope if isinstance(scope, str) and scope else None

    def set_wanted_scope(self, scope: str | None) -> None:
        record = _load(self.name, self.url)
        if record.get("scope_wanted") != scope:
            record["scope_wanted"] = scope
            _save(self.name, self.url, record)

    async def forget_tokens(self) -> None:
        """Forget the tokens (a login starts over), keeping the registered client."""
        record = _load(self.name, self.url)
        if record.pop("tokens", None) is not None:
            record.pop("obtained_at", None)
            _save(self.name, self.url, record)
