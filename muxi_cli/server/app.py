"""The ASGI app of ``muxi serve``: :func:`create_app` serves any :class:`Runtime`.

Everything lives under ``/v1`` except ``/health`` and ``/ready`` (no auth, for
load balancers and orchestrators: server/ready.py). Errors are always ``{"error": {"code", "message", "hint"}}`` with
the status of the :class:`~muxi_cli.errors.MuxiError` behind them.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route
# signatures, whose types are imported inside the factory.

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from muxi_cli import __version__, parts
from muxi_cli.errors import MuxiError, ServerAuthError, UsageError
from muxi_cli.server.apidocs import add_docs_route
from muxi_cli.server.apispec import add_schema_routes, install_openapi
from muxi_cli.server.context import KEY_HEADER, USER_HEADER, Caller, ServerContext, ServerSettings
from muxi_cli.server.head import HeadAsGetMiddleware
from muxi_cli.server.inputs import HostileInputMiddleware
from muxi_cli.server.limits import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    PathLimit,
    client_bucket,
    retry_after_header,
)
from muxi_cli.server.ready import ReplicaHeaderMiddleware, readiness
from muxi_cli.server.tracing import TraceContextMiddleware
from muxi_cli.server.versioning import ApiVersionMiddleware
from muxi_cli.stores.server_keys import KeyStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from muxi_cli.runtime.base import Runtime

log = logging.getLogger("muxi.server")


class TooManyRequests(MuxiError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, retry_after: float, message: str = "too many requests for this key") -> None:
        super().__init__(message, hint=f"slow down; retry in {retry_after_header(retry_after)} s")
        self.retry_after = retry_after


def bearer_token(authorization: str | None, x_key: str | None) -> str | None:
    """The key from ``Authorization: Bearer ...`` or ``X-Muxi-Key``."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if x_key and x_key.strip():
        return x_key.strip()
    return None


def error_response(err: MuxiError) -> Any:
    from fastapi.responses import JSONResponse  # deferred: FastAPI is slow to import

    headers = {}
    wait = getattr(err, "retry_after", None)  # rate limited, a turn still starting
    if isinstance(wait, int | float):
        headers["retry-after"] = retry_after_header(wait)
    if err.http_status == 401:
        headers["www-authenticate"] = 'Bearer realm="muxi"'
    return JSONResponse({"error": err.to_dict()}, status_code=err.http_status, headers=headers)


def authenticate(ctx: ServerContext, headers: Any, client: str | None, state: Any) -> Caller:
    """Check the key and the rate limit; records key id and user for the access log."""

    token = bearer_token(headers.get("authorization"), headers.get(KEY_HEADER))
    # An address that failed too often is refused before its key is even looked
    # at, so a guess made while throttled cannot succeed.
    address = client_bucket(client)
    wait = ctx.auth_limiter.blocked(address)
    if wait > 0:
        raise TooManyRequests(wait, "too many failed authentications from this address")
    try:
        caller = ctx.caller(token, headers.get(USER_HEADER))
    except ServerAuthError:
        ctx.auth_limiter.take(address)
        raise
    state.key_id = caller.principal.key_id
    state.user_id = caller.user_id
    wait = ctx.limiter.take(caller.principal.key_id)
    if wait > 0:
        raise TooManyRequests(wait)
    return caller


async def authenticate_request(
    ctx: ServerContext, headers: Any, client: str | None, state: Any
) -> Caller:
    """:func:`authenticate`, in a worker thread when the keys and rate limits are in a
    database server (replicas sharing PostgreSQL): its lookups wait on the network and
    on the database's locks, and must not freeze the event loop (every other request,
    stream and ``/health`` of the replica) while they do."""
    if getattr(ctx.keys, "remote", False):
        return await asyncio.to_thread(authenticate, ctx, headers, client, state)
    return authenticate(ctx, headers, client, state)


async def take_turn(ctx: ServerContext, key_id: str) -> float:
    """One token of the key's rate limit (0, else seconds to wait); off the event loop
    when the buckets are in the shared database (as :func:`authenticate_request`)."""
    if getattr(ctx.keys, "remote", False):
        return await asyncio.to_thread(ctx.limiter.take, key_id)
    return ctx.limiter.take(key_id)


def upload_limits(ctx: ServerContext) -> dict[str, PathLimit]:
    """The body limits of the upload routes (``--max-body`` is for JSON): their
    file limit plus the form's framing."""
    from muxi_cli.server.audio_routes import (
        audio_limit,  # deferred: loads muxi's server
    )
    from muxi_cli.server.uploads import OVERHEAD  # deferred: loads python-multipart glue

    max_upload = ctx.media.max_bytes
    max_audio = audio_limit(ctx)
    return {
        "/v1/media": PathLimit(
            max_upload + OVERHEAD,
            "media_too_large",
            f"this server takes files of at most {max_upload:,} bytes",
            "send a smaller file, or ask the admin to raise --max-upload-mb",
        ),
        "/v1/audio/transcriptions": PathLimit(
            max_audio + OVERHEAD,
            "media_too_large",
            f"audio to transcribe may be at most {max_audio:,} bytes",
            "send a shorter recording, or compress it (mono MP3 or Opus)",
        ),
    }


def create_app(
    runtime: "Runtime",
    keys: KeyStore,
    settings: ServerSettings | None = None,
    *,
    access_log: bool = True,
    media_store: Any = None,
) -> "FastAPI":
    """Build the app serving ``runtime``; ``keys`` decides who may call it.

    ``media_store``: the store ``runtime.put_media`` writes to (see
    :attr:`ServerContext.media`); by default the runtime's own.
    """
    from fastapi import FastAPI, Request  # deferred: FastAPI is slow to import
    from fastapi.exceptions import RequestValidationError  # deferred: FastAPI is slow to import
    from fastapi.responses import JSONResponse  # deferred: FastAPI is slow to import
    from starlette.exceptions import HTTPException  # deferred: Starlette is slow to import

    from muxi_cli.server.audio_routes import add_audio_routes  # deferred: loads muxi's server
    from muxi_cli.server.live_routes import add_live_routes  # deferred: loads muxi's server
    from muxi_cli.server.memviz_routes import add_memviz_routes  # deferred: as above
    from muxi_cli.server.routes import (
        add_routes,  # deferred: loads muxi's protocol, runtime, server
    )
    from muxi_cli.server.timeline_routes import add_timeline_routes  # deferred: loads the server
    from muxi_cli.server.ws import add_websocket  # deferred: loads muxi's protocol, runtime, server

    ctx = ServerContext(
        runtime=runtime, keys=keys, settings=settings or ServerSettings(), media_store=media_store
    )
    app = FastAPI(
        title="muxi server",
        version=__version__,
        description="Chat with muxi agents, manage sessions and memory. "
        "Authenticate with `Authorization: Bearer <key>` or `X-Muxi-Key`.",
        # /docs is our own self-contained page (apidocs.py): FastAPI's loads its
        # scripts from a CDN and shows nothing offline.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx

    @app.exception_handler(MuxiError)
    async def _muxi_error(request: Request, exc: MuxiError) -> Any:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:

        parts = []
        for err in exc.errors()[:3]:
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
        return error_response(
            UsageError("invalid request: " + "; ".join(parts), hint="see /docs for the API")
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Any:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        hint = "see /docs for the API" if exc.status_code in (404, 405) else None
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail), "hint": hint}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError) -> Any:

        return error_response(UsageError(f"invalid request: {exc}", hint="see /docs for the API"))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Any:
        if isinstance(exc, ModuleNotFoundError):
            # A package of an extra this server does not have (a PDF upload
            # without [media]): 501 naming the extra, not a crash.
            missing = parts.missing_part_error(exc, f"{request.method} {request.url.path}")
            if missing is not None:
                return error_response(missing)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {
                "error": {
                    "code": "internal_error",
                    "message": "the server failed to answer this request",
                    "hint": "see the server's log",
                }
            },
            status_code=500,
        )

    @app.get("/health", tags=["health"], summary="Liveness for load balancers (no auth)")
    async def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__, "draining": ctx.registry.draining}

    @app.get("/ready", tags=["health"], summary="Readiness for load balancers (no auth)")
    async def ready() -> Any:
        # 200 when the database and storage answer and the replica is not draining,
        # 503 with the reason otherwise (server/ready.py).
        ok, body = await readiness(ctx)
        return JSONResponse(body, status_code=200 if ok else 503)

    add_memviz_routes(app, ctx)  # before add_routes: /memory/{memory_id} would take "stats"
    add_routes(app, ctx)
    add_audio_routes(app, ctx)
    add_timeline_routes(app, ctx)
    add_live_routes(app, ctx)
    add_websocket(app, ctx)
    add_schema_routes(app)
    add_docs_route(app)
    install_openapi(app)  # /openapi.json and /docs: the committed form (docs/api/)
    metrics = _metrics(ctx)
    if metrics is not None:
        from muxi_cli.server.metrics import add_metrics_route  # deferred: loads prometheus-client

        add_metrics_route(app, ctx)
    if ctx.settings.web:
        from muxi_cli.server.webmount import add_web  # deferred: loads textual-serve

        add_web(app, ctx)
    # Innermost: a HEAD reaches the routes as the GET it stands for (server/head.py).
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=ctx.settings.max_body, paths=lambda: upload_limits(ctx)
    )
    app.add_middleware(HostileInputMiddleware)
    app.add_middleware(ReplicaHeaderMiddleware, replica=ctx.registry.replica)
    app.add_middleware(TraceContextMiddleware)
    # Outside the others, so their answers carry the version header too; inside the
    # access log and metrics, which should see a refused version.
    app.add_middleware(ApiVersionMiddleware)
    if access_log:
        app.add_middleware(AccessLogMiddleware)
    if metrics is not None:
        from muxi_cli.server.metrics import MetricsMiddleware  # deferred: as above

        app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: sees every answer
    return app


def _metrics(ctx: ServerContext) -> Any:
    """The server's metrics, fed by the runtime's event tap; None without prometheus-client."""
    try:
        from muxi_cli.server.metrics import ServerMetrics  # deferred: loads prometheus-client

        metrics = ServerMetrics(ctx.runtime)
    except ModuleNotFoundError as exc:
        log.warning("no /metrics: %s (pip install 'muxi-cli[server]')", exc)
        return None
    tap = getattr(ctx.runtime, "tap", None)
    if tap is not None:
        metrics.stop_observing = tap.add(metrics.observe)
    ctx.metrics = metrics
    return metrics
