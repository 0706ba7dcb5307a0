"""The one HTTP client to a muxi server: base URL, API key, TLS, timeouts, errors.

:class:`ServerClient` is what :class:`~muxi_cli.runtime.remote.RemoteRuntime`,
``muxi keys`` (a remote profile's key API) and ``muxi profile add|test`` use to
talk to a ``muxi serve``. Every failure is a :class:`~muxi_cli.errors.MuxiError`:
a server that cannot be reached is a ``ConnectionFailedError`` (exit 1), an
error answer becomes the error the server sent (its code decides the exit
code; a bare 401 is a ``ServerAuthError``), and an answer that is not JSON
says the URL may not be a muxi server.

Over TCP the requests go through httpx; to a local host's Unix socket they go
through :mod:`muxi_cli.runtime.unixhttp` (standard library only), which keeps
httpx, httpcore, anyio, h11 and ssl out of a warm one-shot client. Callers see
the same :class:`~muxi_cli.runtime.wire.Response` and the same errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from muxi_cli.errors import MuxiError, ServerAuthError
from muxi_cli.protocol import apiversion
from muxi_cli.protocol.apiversion import API_VERSION, HEADER, UNSUPPORTED, compatible, values
from muxi_cli.runtime.wire import (
    Response,
    Timeout,
    TransportError,
    connection_error,
    error_from_body,
    skip_httpx_cli,
    unix_target,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

    import httpx

    from muxi_cli.runtime.unixhttp import UnixClient


class RequestOptions(TypedDict, total=False):
    """What a request may add to the method and path."""

    #: The acting user (``x-muxi-user-id``); admins may act for another user.
    user_id: str | None
    json_body: Any
    #: Query parameters; ``None`` values are left out.
    params: dict[str, Any] | None
    #: Seconds (or a :class:`Timeout`) instead of the client's default.
    timeout: float | Timeout | None
    #: Extra request headers.
    headers: dict[str, str]
    #: A multipart upload: field name to ``(file name, bytes, media type)``.
    files: dict[str, tuple[str, bytes, str]]
    #: Plain form fields sent with ``files``; ``None`` values are left out.
    form: dict[str, str | None]


#: Seconds to wait for a TCP (and TLS) connection to the server.
CONNECT_TIMEOUT = 10.0
#: Sent with every request so a server's logs tell muxi clients apart.
USER_AGENT = "muxi-remote"


class ServerClient:
    """Requests to the muxi server at ``url``, authenticated with ``api_key``.

    The underlying ``httpx.AsyncClient`` is opened on first use (a turn that
    runs over the WebSocket never needs it) and bound to the event loop that
    first used it: open one ``ServerClient`` per ``asyncio.run``.

    With ``uds`` (or a ``unix:/path`` URL), every request goes over the Unix
    domain socket at that path (a local host) through the standard-library
    client of :mod:`muxi_cli.runtime.unixhttp`; ``url`` then only names the
    server in requests and messages.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        max_connections: int = 200,
        uds: Path | None = None,
    ) -> None:
        skip_httpx_cli()
        url, uds = unix_target(url, uds)
        self.url = url.rstrip("/")
        #: The Unix socket requests go over instead of TCP, if any.
        self.uds = uds
        self.api_key = api_key
        self.timeout = timeout
        #: TLS verification: True, False, or the path of a CA bundle.
        self.verify = verify
        self._max_connections = max_connections
        #: The user every request acts for unless it names another (an admin
        #: key's ``x-muxi-user-id``; the Python client's ``user_id``).
        self.acting_user: str | None = None
        self._client: httpx.AsyncClient | None = None
        self._unix: UnixClient | None = None
        #: Set by the Python client's close: every later request raises this error
        #: instead of opening a new connection pool (a turn's resume or cancel too).
        self.refuse: Callable[[], MuxiError] | None = None
        #: Raise :func:`version_error` for an answer of another API major (the
        #: CLI's remote runtime; the Python client checks answers itself).
        self.check_versions = False
        #: The ``Muxi-Api-Version`` the server's last answer named (None: none yet,
        #: or a 1.0 server): whether a lost turn start may be sent again.
        self.api_version: str | None = None

    async def __aenter__(self) -> ServerClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def keeps_turn_keys(self) -> bool:
        """Whether the server's answers named API 1.2+ (it keeps turn starts' keys)."""
        return apiversion.keeps_turn_keys(self.api_version)

    @property
    def opened(self) -> bool:
        """Whether the HTTP connection pool was ever needed."""
        return self._client is not None or self._unix is not None

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What a failed connection raises while an answer is read (``except`` it)."""
        if self.uds is not None:
            return (TransportError,)
        import httpx  # deferred: imported already whenever an httpx error can occur

        return (httpx.HTTPError,)

    def headers(self, user_id: str | None = None) -> dict[str, str]:
        """What every request carries: the user agent, the API version this code
        speaks (a server of another major refuses it clearly), the key, the acting user."""
        headers = {"user-agent": USER_AGENT, HEADER: API_VERSION}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        user_id = user_id or self.acting_user
        if user_id:
            headers["x-muxi-user-id"] = user_id
        return headers

    def require_key(self, label: str, hint: str) -> None:
        """Raise :class:`ServerAuthError` unless there is a key to send."""
        if not self.api_key:
            raise ServerAuthError(f"no API key is stored for {label}", hint=hint)

    def http(self) -> httpx.AsyncClient:
        """The shared httpx connection pool (opened now if needed): TCP servers only."""
        if self.uds is not None:
            raise RuntimeError("a server on a Unix socket is reached through send(), not httpx")
        if self._client is None:
            # httpx takes over 100 ms to import; `muxi --help` and local runs never need it.
            import httpx

            limits = httpx.Limits(
                max_connections=self._max_connections, max_keepalive_connections=20
            )
            self._client = httpx.AsyncClient(
                base_url=self.url,
                headers=self.headers(),
                timeout=httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT),
                limits=limits,
                verify=self.verify,
            )
        return self._client

    async def send(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        stream: bool = False,
        **options: Unpack[RequestOptions],
    ) -> Response:
        """One request; only a failure to reach the server raises (the answer may be an error).

        With ``stream`` the body is left unread: the caller reads it and closes the response.
        """
        if self.refuse is not None:
            raise self.refuse()
        user_id = options.get("user_id")
        clean = {k: v for k, v in (options.get("params") or {}).items() if v is not None}
        headers = {"x-muxi-user-id": user_id} if user_id else {}
        headers.update(options.get("headers", {}))
        form = {k: v for k, v in (options.get("form") or {}).items() if v is not None}
        if self.uds is not None:
            resp = await self._send_unix(method, path, auth, stream, headers, clean, form, options)
        else:
            resp = await self._send_tcp(method, path, auth, stream, headers, clean, form, options)
        named = resp.headers.get(HEADER) or resp.headers.get(HEADER.lower())
        if named:  # a proxy's own answer names none: keep what the server said
            self.api_version = named
        mismatch = version_error(resp.headers, self.where) if self.check_versions else None
        if mismatch is not None:
            await resp.aclose()
            raise mismatch
        return resp

    async def _send_tcp(
        self,
        method: str,
        path: str,
        auth: bool,
        stream: bool,
        headers: dict[str, str],
        clean: dict[str, Any],
        form: dict[str, str],
        options: RequestOptions,
    ) -> Response:
        import httpx  # deferred: httpx is slow to import

        asked = options.get("timeout")
        timeout: float | httpx.Timeout | None = None
        if isinstance(asked, Timeout):
            timeout = httpx.Timeout(
                asked.seconds,
                connect=asked.seconds if asked.connect is None else asked.connect,
                read=asked.seconds if asked.read is None else asked.read,
            )
        else:
            timeout = asked
        request = self.http().build_request(
            method,
            path,
            json=options.get("json_body"),
            files=options.get("files"),
            data=form or None,
            params=clean,
            headers=headers,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
        if not auth:
            request.headers.pop("authorization", None)
        try:
            return await self.http().send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise connection_error(self.where, exc) from exc

    async def _send_unix(
        self,
        method: str,
        path: str,
        auth: bool,
        stream: bool,
        headers: dict[str, str],
        params: dict[str, Any],
        form: dict[str, str],
        options: RequestOptions,
    ) -> Response:
        from muxi_cli.runtime import unixhttp  # deferred: only a local host needs it

        if self._unix is None:
            assert self.uds is not None
            self._unix = unixhttp.UnixClient(self.uds, self.url.partition("://")[2] or self.url)
        body, content_type = unixhttp.encode_body(
            options.get("json_body"), options.get("files"), form
        )
        sent = {"accept": "*/*", **self.headers()}
        if content_type:
            sent["content-type"] = content_type
        sent.update(headers)
        if not auth:
            sent.pop("authorization", None)
        timeout = options.get("timeout")
        if not isinstance(timeout, Timeout):
            timeout = Timeout(self.timeout if timeout is None else timeout, connect=CONNECT_TIMEOUT)
        target = path + unixhttp.query(params)
        try:
            return await self._unix.send(method, target, sent, body, timeout, stream=stream)
        except TransportError as exc:
            raise connection_error(self.where, exc) from exc

    @property
    def where(self) -> str:
        """The server as messages name it: its URL, and the socket for a local one."""
        return self.url if self.uds is None else f"{self.url} (socket {self.uds})"

    async def request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Any:
        """The decoded JSON answer (``None`` for an empty one); an error answer raises."""
        resp = await self.send(method, path, **options)
        if resp.status_code >= 400:
            raise error_from_body(resp.status_code, resp.content, self.url, path)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise MuxiError(
                f"the server at {self.url} sent a non-JSON answer",
                hint="is this URL a muxi server?",
            ) from exc

    async def fetch(self, method: str, path: str, **options: Unpack[RequestOptions]) -> bytes:
        """The answer's body as bytes (a file); an error answer raises."""
        resp = await self.send(method, path, **options)
        if resp.status_code >= 400:
            raise error_from_body(resp.status_code, resp.content, self.url, path)
        return resp.content

    async def stream(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Response:
        """A streamed answer, its body unread (the caller closes it); an error answer raises."""
        resp = await self.send(method, path, stream=True, **options)
        if resp.status_code < 400:
            return resp
        try:
            body = await resp.aread()
        except self.errors as exc:
            raise connection_error(self.where, exc) from exc
        finally:
            await resp.aclose()
        raise error_from_body(resp.status_code, body, self.url, path)

    async def check(self) -> dict[str, Any]:
        """Health and auth: the server's version and the key's id, role and user.

        Raises a :class:`MuxiError` saying what is wrong: not reachable, not a
        muxi server, no key, or a key the server rejects.
        """
        health = await self.send("GET", "/health", auth=False)
        try:
            info = health.json()
        except ValueError:
            info = None
        if health.status_code != 200 or not isinstance(info, dict) or "version" not in info:
            raise MuxiError(
                f"{self.url} answered /health with HTTP {health.status_code}, "
                "not like a muxi server",
                hint="check the URL (scheme, host, port) with `muxi profile show NAME`",
            )
        self.require_key(
            "this profile",
            "add the profile again (the key is read from a prompt or stdin), or set MUXI_API_KEY",
        )
        me = await self.request("GET", "/v1/me")
        return {"server_version": info["version"], **me}

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        unix, self._unix = self._unix, None
        if unix is not None:
            await unix.aclose()


def version_error(headers: Mapping[str, str], where: str) -> MuxiError | None:
    """The error for an answer naming another API major (None: same major, or
    no header at all, a 1.0 server)."""
    value = headers.get(HEADER) or headers.get(HEADER.lower())
    if value is None or all(compatible(one) for one in values(value)):
        return None
    err = MuxiError(
        f"the server at {where} speaks muxi API {value}; this muxi speaks {API_VERSION}",
        hint="use a muxi release of the server's major API version on this side",
    )
    err.code = UNSUPPORTED  # type: ignore[misc]
    return err


def check_ready(ready: dict[str, Any], where: str) -> None:
    """Refuse a WebSocket whose ``ready`` frame names another API major."""
    version = ready.get("api_version")
    if isinstance(version, str):  # a 1.0 server names none
        mismatch = version_error({HEADER: version}, where)
        if mismatch is not None:
            raise mismatch


def never_connected(exc: BaseException) -> bool:
    """Whether a request's MuxiError came from a connection that was never made
    (nothing was sent: the request may be made elsewhere), on either transport."""
    from muxi_cli.runtime import unixhttp  # deferred: standard library only, and small

    httpx = sys.modules.get("httpx")  # not imported: no httpx error can have happened
    cause = exc.__cause__
    while cause is not None:  # the Python client's error wraps the runtime's
        if isinstance(cause, unixhttp.ConnectError) or (
            httpx is not None and isinstance(cause, httpx.ConnectError)
        ):
            return True
        cause = cause.__cause__
    return False
