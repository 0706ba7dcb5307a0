"""What every route needs: the runtime, the keys, the running turns, the limits."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from muxi_cli.config.access import ServerAccess
from muxi_cli.errors import NotFoundError, ServerAuthError, UsageError
from muxi_cli.server.jwt_auth import JWTVerifier
from muxi_cli.server.limits import RateLimiter
from muxi_cli.server.runs import RunRegistry
from muxi_cli.server.scopes import Grants, resolve
from muxi_cli.server.tape import event_log_for
from muxi_cli.stores.lance_schema import SHARED_USER
from muxi_cli.stores.server_keys import KeyStore, Principal, valid_user_id
from muxi_cli.stores.session_rows import not_found

if TYPE_CHECKING:
    from muxi_cli.config.access import ServerAccess
    from muxi_cli.config.schema import Formation
    from muxi_cli.protocol.records import ApprovalDecision, SessionInfo
    from muxi_cli.runtime.base import Runtime
    from muxi_cli.server.jwt_auth import JWTVerifier
    from muxi_cli.server.media_access import MediaAccess

USER_HEADER = "x-muxi-user-id"
KEY_HEADER = "x-muxi-key"
#: The user an admin key acts as when it sends no ``X-Muxi-User-Id``.
ADMIN_DEFAULT_USER = "admin"


#: A user's media quota on a server whose formation and options set none.
DEFAULT_MEDIA_QUOTA = 1024 * 1024 * 1024


@dataclass(slots=True)
class ServerSettings:
    """Tunables of one server (``muxi serve`` options)."""

    #: Largest request body in bytes (413 above).
    max_body: int = 1_000_000
    #: Requests per second per key (token bucket refill); 0 disables the limit.
    rate: float = 10.0
    #: Bucket size: how many requests a key may send in a burst.
    burst: int = 60
    #: Failed authentications per second per client address, and their burst.
    #: Always on (``rate`` does not switch it off): it is what slows key guessing.
    auth_fail_rate: float = 1.0
    auth_fail_burst: int = 20
    #: Seconds running turns get to finish on shutdown before they are cancelled.
    shutdown_grace: float = 10.0
    #: Seconds a turn whose client went away keeps running for a stream to
    #: resume it (``GET /v1/runs/{id}/events``); then it is cancelled.
    resume_grace: float = 30.0
    #: Seconds a WebSocket client has to send its auth frame.
    ws_auth_timeout: float = 10.0
    #: Seconds between checks that an open WebSocket's key was not revoked.
    ws_key_check: float = 2.0
    #: Seconds between SSE keep-alive comments.
    keepalive: float = 15.0
    #: Seconds a connection has to send a complete request head (status line + headers).
    header_timeout: float = 10.0
    #: Seconds an idle keep-alive connection stays open between requests.
    idle_timeout: int = 10
    #: Concurrent connections (HTTP and WebSocket); the longest-idle one makes room.
    max_connections: int = 1000
    #: Largest uploaded file in bytes (``POST /v1/media``, WebSocket uploads; 413
    #: above); None: the media store's ``max_file_size`` (formation ``media:``).
    max_upload: int | None = None
    #: Bytes of media one user may store (413 once an upload would pass it);
    #: None: the formation's ``media.quota``, else :data:`DEFAULT_MEDIA_QUOTA`.
    media_quota: int | None = None
    #: Uploads per minute per user (token bucket refill, 0: no limit) and their burst.
    upload_rate: float = 30.0
    upload_burst: int = 20
    #: Uploads being received at once (server-wide: each may hold ``max_upload``
    #: bytes in memory until it is stored); the next one gets 503.
    max_uploads: int = 8
    #: Seconds an upload may pause between two chunks of its body, and may take
    #: in all (408 after): a slow upload cannot hold its place for ever.
    upload_idle: float = 30.0
    upload_deadline: float = 600.0
    #: The user an admin key acts as without ``X-Muxi-User-Id`` (the warm host:
    #: the local user, as in-process).
    admin_user: str = ADMIN_DEFAULT_USER
    #: Admin keys are this machine's owner (the warm host, which serves only its
    #: own OS user): their turns and MCP reads run as in-process ones, so an OAuth
    #: MCP server uses the local login (``mcp-oauth:NAME``), not a per-user one.
    admin_is_owner: bool = False
    #: Serve the chat app in a browser under ``/web/`` (``muxi serve --web``).
    web: bool = False
    #: Also serve ``/metrics`` without a key on this port of 127.0.0.1 (0: any free one).
    metrics_port: int | None = None


@dataclass(slots=True)
class Caller:
    """An authenticated request: the key and the user it acts as."""

    principal: Principal
    user_id: str
    #: What the key may do (scopes resolved against the formation).
    grants: Grants = field(default_factory=Grants)
    #: The machine's owner (an admin key of the warm host: ``admin_is_owner``).
    owner: bool = False

    @property
    def admin(self) -> bool:
        return self.principal.admin

    @property
    def tool_role(self) -> str | None:
        """The role tools see (``ToolCaller.role``): None for the machine's owner,
        as in-process; the key's role on ``muxi serve``."""
        return None if self.owner else self.principal.role

    @property
    def scope_user(self) -> str | None:
        """For lookups by id: None lets an admin reach any user's data."""
        return None if self.admin else self.user_id

    def approval(self, decision: ApprovalDecision) -> ApprovalDecision:
        """The decision the runtime gets: a user key's "always" counts once.

        "always" is saved in the server's settings and turns ``ask`` into
        ``allow`` for every user of the server; only an admin may do that.
        """
        return "allow" if decision == "always" and not self.admin else decision


@dataclass(slots=True)
class ServerContext:
    runtime: Runtime
    keys: KeyStore
    settings: ServerSettings = field(default_factory=ServerSettings)
    registry: RunRegistry = field(default_factory=RunRegistry)
    #: The served formation (scope defaults, agent names); None for test runtimes.
    formation: Formation | None = None
    jwt: JWTVerifier | None = None
    #: The media store the runtime stores uploads into (``MediaStore``); None:
    #: a LocalRuntime's ``store.media``, else the data folder's.
    media_store: Any = None
    #: The Prometheus metrics (``ServerMetrics``); None without prometheus-client.
    metrics: Any = None
    limiter: RateLimiter = field(init=False)
    auth_limiter: RateLimiter = field(init=False)
    _media: MediaAccess | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.rate, self.settings.burst)
        # Failed authentications per client address: slows down key guessing. Its
        # own settings, so `--rate 0` (no per-key limit) leaves it on.
        self.auth_limiter = RateLimiter(
            max(self.settings.auth_fail_rate, 0.01), self.settings.auth_fail_burst
        )
        self.registry.resume_grace = self.settings.resume_grace
        if self.registry.log is None:
            self.registry.log = event_log_for(self.runtime)
        if self.formation is None:
            self.formation = getattr(self.runtime, "formation", None)
        if self.jwt is None and self.access.jwt is not None:
            self.jwt = JWTVerifier(self.access.jwt)

    def streaming(self, transport: str) -> contextlib.AbstractContextManager[None]:
        """Counts a turn streaming over ``transport`` ("sse", "websocket") while it runs."""
        if self.metrics is None:
            return contextlib.nullcontext()
        return self.metrics.stream(transport)

    @property
    def media(self) -> MediaAccess:
        """Uploads, downloads and quotas of the callers' media (made on first use)."""
        if self._media is None:
            from muxi_cli.server.media_access import (
                MediaAccess,  # deferred: only media routes need it
            )
            from muxi_cli.stores.media import MediaStore  # deferred: only media routes need it

            store = self.media_store
            if store is None:
                # A LocalRuntime's put_media stores into its sessions' media store.
                store = getattr(getattr(self.runtime, "store", None), "media", None)
                if not isinstance(store, MediaStore):
                    store = MediaStore()  # a runtime without one: the data folder's
                self.media_store = store
            self._media = MediaAccess(self.runtime, store, self.settings)
            _hold_store_to(store, self._media)
        return self._media

    @property
    def access(self) -> ServerAccess:

        server = getattr(self.formation, "server", None)
        return server if isinstance(server, ServerAccess) else ServerAccess()

    def caller(self, token: str | None, user_header: str | None) -> Caller:
        """Authenticate a key and work out the user it acts as (raises on failure)."""
        if not token:
            raise ServerAuthError(
                "this muxi server needs an API key",
                hint="send it as 'Authorization: Bearer <key>' or 'X-Muxi-Key: <key>' "
                "(muxi profile add NAME --url URL stores one for the CLI)",
            )
        principal = self.keys.authenticate(token)
        if principal is None and self.jwt is not None and self.jwt.looks_like_jwt(token):
            principal = self.jwt.verify(token)  # raises ServerAuthError with the reason
        if principal is None:
            raise ServerAuthError(
                "the API key is not valid (unknown or revoked)",
                hint="ask the server's admin for a key (`muxi keys create`), then "
                "`muxi profile add` it again",
            )
        if user_header is not None:
            user_header = user_header.strip()
            if principal.admin and user_header == SHARED_USER:
                # Not a user: the shared knowledge every user recalls; admins manage it.
                return Caller(principal, SHARED_USER)
            if not valid_user_id(user_header):
                raise UsageError(
                    "invalid X-Muxi-User-Id header",
                    hint="user ids are 1-128 letters, digits and . _ @ + -",
                )
        grants = resolve(principal, self.access)
        if principal.admin:
            user = user_header or self.settings.admin_user
            return Caller(principal, user, grants, owner=self.settings.admin_is_owner)
        # A user key always acts as its own user; the header is ignored.
        return Caller(principal, principal.user_id, grants)

    async def owned_session(self, caller: Caller, session_id: str) -> SessionInfo:
        """The session, if the caller may see it; NotFoundError otherwise (same message).

        A user key's id or prefix is resolved among that user's sessions only, so
        a prefix shared with another user's sessions neither finds nor lists them.
        """
        try:
            info: SessionInfo | None = await self.runtime.session(
                session_id, user_id=caller.scope_user
            )
        except NotFoundError:
            info = None
        if info is not None and (caller.admin or info.user_id == caller.user_id):
            return info
        # The store's own words, so a session missing here reads as it does in-process.
        raise not_found(session_id)


def _hold_store_to(store: Any, media: MediaAccess) -> None:
    """Make the store itself enforce the server's quota (and a larger per-file limit).

    ``MediaStore.put`` checks its quota inside its write transaction, so every
    path that stores for a user (uploads, inline attachments, WebSocket files,
    media a tool returns) is held to ``--media-quota-mb``, even when requests
    race past :meth:`MediaAccess.check_attachments`. The store's ``max_bytes``
    is raised to ``--max-upload-mb`` when that is larger, never lowered: it also
    caps the derived forms (page images, text) the media pipeline caches.
    """
    from muxi_cli.stores.media import MediaStore  # deferred: as in media_store above

    if not isinstance(store, MediaStore):
        return
    store.set_limits(max_bytes=max(media.max_bytes, store.max_bytes), quota_bytes=media.quota)
