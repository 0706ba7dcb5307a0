"""Prometheus metrics of ``muxi serve``: ``GET /metrics`` and ``--metrics-port``.

Turns, tokens, cost and tool calls come from the runtime's event tap
(:mod:`muxi_cli.runtime.observe`), so they agree with run records and traces;
requests, streams and rate-limit rejections from the server's own hooks; MCP
health and memory size are read when scraped. Each server has its own
registry (never the process-global one). Label values are bounded: routes are
templates, never raw paths; no user ids; agents, models and tools are capped
at :data:`MAX_VALUES` distinct values per label (the rest count as "other").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muxi_cli.protocol.events import (
    AgentRouted,
    Event,
    ModelCall,
    RunCompleted,
    RunFailed,
    RunStarted,
    TextDelta,
    ToolApproval,
    ToolRequested,
    ToolResult,
    Usage,
)

if TYPE_CHECKING:
    from muxi_cli.runtime.base import Runtime

log = logging.getLogger("muxi.server")

#: Distinct values one label may take before further ones count as "other".
MAX_VALUES = 200
#: Runs (and tool calls) followed at once; a run that never ends is forgotten after this many.
MAX_OPEN = 10_000
OTHER = "other"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: Seconds: a turn takes from a fraction of a second to minutes.
TURN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, float("inf"))
MCP_UP = frozenset({"ready", "running"})


class Bounded:
    """Passes the first ``limit`` distinct values, then answers "other"."""

    def __init__(self, limit: int = MAX_VALUES) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        value = (value or "none")[:120]
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(value)
        return value


@dataclass(slots=True)
class _Run:
    agent: str
    started: float
    model: str = "none"
    first_token: float | None = None


class ServerMetrics:
    """The metrics of one server; :meth:`observe` goes on ``LocalRuntime.tap``."""

    def __init__(self, runtime: Runtime) -> None:
        # deferred: prometheus-client is only needed once a server runs
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.runtime = runtime
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "muxi_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "muxi_http_request_duration_seconds",
            "Time to answer an HTTP request (a stream: until it ends)",
            ["method", "route", "status"],
            registry=r,
        )
        self.rate_limited = Counter(
            "muxi_rate_limited", "Requests refused with 429 (rate limits)", ["route"], registry=r
        )
        self.turns = Counter(
            "muxi_turns", "Turns ended, by outcome", ["agent", "model", "outcome"], registry=r
        )
        self.turn_seconds = Histogram(
            "muxi_turn_duration_seconds",
            "Whole turn, start to end",
            ["agent", "model"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.first_token_seconds = Histogram(
            "muxi_turn_first_token_seconds",
            "Turn start to its first text",
            ["agent", "model"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.model_call_seconds = Histogram(
            "muxi_model_call_duration_seconds",
            "One call to the model, request to its last chunk",
            ["model"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "muxi_tokens", "Model tokens", ["agent", "model", "direction"], registry=r
        )
        self.cost = Counter(
            "muxi_cost_usd", "Model cost in US dollars", ["agent", "model"], registry=r
        )
        self.tool_calls = Counter(
            "muxi_tool_calls", "Tool calls by outcome", ["server", "tool", "outcome"], registry=r
        )
        self.tool_seconds = Histogram(
            "muxi_tool_call_duration_seconds", "Tool call run time", ["server", "tool"], registry=r
        )
        self.active_streams = Gauge(
            "muxi_active_streams", "Turns streaming now", ["transport"], registry=r
        )
        self.mcp_up = Gauge(
            "muxi_mcp_server_up", "1 if the MCP server is up", ["server"], registry=r
        )
        self.memory_rows = Gauge(
            "muxi_memory_rows", "Rows in the memory store", ["table", "kind"], registry=r
        )
        for transport in ("sse", "websocket"):
            self.active_streams.labels(transport)  # present at 0 before the first stream
        self._agent, self._model, self._tool, self._server = (Bounded() for _ in range(4))
        self._route = Bounded(400)
        #: Takes :meth:`observe` off the runtime's tap (set by whoever added it).
        self.stop_observing: Callable[[], None] = lambda: None
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        #: (run id, call id) -> (server, tool, denied)
        self._calls: OrderedDict[tuple[str, str], tuple[str, str, bool]] = OrderedDict()

    # ------------------------------------------------------------ the event tap

    def observe(self, event: Event) -> None:
        """Count one event (called on the loop: dictionary work only)."""
        now = time.monotonic()
        if isinstance(event, RunStarted):
            self._runs[event.run_id] = _Run(self._agent(event.agent), now)
            _cap(self._runs)
            return
        run = self._runs.get(event.run_id)
        if isinstance(event, AgentRouted) and run is not None:
            run.agent = self._agent(event.agent)
        elif isinstance(event, TextDelta) and run is not None and run.first_token is None:
            run.first_token = now - run.started
        elif isinstance(event, ModelCall):
            self.model_call_seconds.labels(self._model(event.model)).observe(
                event.duration_ms / 1000
            )
        elif isinstance(event, Usage):
            model = self._model(event.model)
            agent = run.agent if run is not None else "none"
            if run is not None:
                run.model = model
            self.tokens.labels(agent, model, "input").inc(max(event.input_tokens, 0))
            self.tokens.labels(agent, model, "output").inc(max(event.output_tokens, 0))
            if event.cost_usd:
                self.cost.labels(agent, model).inc(max(event.cost_usd, 0.0))
        elif isinstance(event, ToolRequested):
            key = (event.run_id, event.call_id)
            self._calls[key] = (
                self._server(event.server or "builtin"),
                self._tool(event.tool),
                False,
            )
            _cap(self._calls)
        elif isinstance(event, ToolApproval) and event.decision == "denied":
            call = self._calls.get((event.run_id, event.call_id))
            if call is not None:
                self._calls[(event.run_id, event.call_id)] = (call[0], call[1], True)
                self.tool_calls.labels(call[0], call[1], "denied").inc()
        elif isinstance(event, ToolResult):
            call = self._calls.pop((event.run_id, event.call_id), None)
            if call is not None and not call[2]:  # a denied call's result was counted as denied
                self.tool_calls.labels(call[0], call[1], "ok" if event.ok else "failed").inc()
                if event.duration_ms is not None:
                    self.tool_seconds.labels(call[0], call[1]).observe(event.duration_ms / 1000)
        elif isinstance(event, RunCompleted | RunFailed):
            self._end(event, now)

    def _end(self, event: RunCompleted | RunFailed, now: float) -> None:
        run = self._runs.pop(event.run_id, None)
        for key in [k for k in self._calls if k[0] == event.run_id]:
            del self._calls[key]
        if run is None:
            return
        if isinstance(event, RunCompleted):
            outcome = "completed"
        else:
            outcome = "cancelled" if event.error.get("code") == "cancelled" else "failed"
        self.turns.labels(run.agent, run.model, outcome).inc()
        self.turn_seconds.labels(run.agent, run.model).observe(now - run.started)
        if run.first_token is not None:
            self.first_token_seconds.labels(run.agent, run.model).observe(run.first_token)

    # ------------------------------------------------------------ server hooks

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else OTHER
        route = self._route(route)
        status_class = f"{status // 100}xx"
        self.requests.labels(method, route, status_class).inc()
        self.request_seconds.labels(method, route, status_class).observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()

    def refused(self, route: str) -> None:
        """A 429 that is not an HTTP answer (a WebSocket error frame)."""
        self.rate_limited.labels(self._route(route)).inc()

    @contextlib.contextmanager
    def stream(self, transport: str) -> Iterator[None]:
        gauge = self.active_streams.labels(transport)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    # ------------------------------------------------------------ read when scraped

    async def refresh(self) -> None:
        """Read MCP health and memory size (the catalog only: LanceDB stays closed)."""
        try:
            servers = await self.runtime.mcp_servers()
        except Exception as exc:  # a scrape still answers
            log.warning("metrics: could not list MCP servers: %s", exc)
        else:
            self.mcp_up.clear()
            for s in servers:
                self.mcp_up.labels(self._server(s.name)).set(1 if s.state in MCP_UP else 0)
        catalog = getattr(getattr(self.runtime, "memory", None), "catalog", None)
        if catalog is None:
            return
        try:
            snapshot = await asyncio.to_thread(catalog.snapshot)  # a SQLite read
        except Exception as exc:
            log.warning("metrics: could not read the memory catalog: %s", exc)
            return
        if snapshot is None:  # stale or remote: the last figures stand
            return
        kinds: dict[str, int] = {}
        for (_owner, kind), n in snapshot.memories.items():
            kinds[kind] = kinds.get(kind, 0) + n
        self.memory_rows.clear()
        for kind, n in kinds.items():
            self.memory_rows.labels("memories", kind[:60]).set(n)
        self.memory_rows.labels("chunks", "").set(sum(snapshot.chunks.values()))

    async def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type, fresh."""
        from prometheus_client import (  # deferred: as in __init__
            CONTENT_TYPE_LATEST,
            generate_latest,
        )

        await self.refresh()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _cap(d: OrderedDict[Any, Any]) -> None:
    while len(d) > MAX_OPEN:
        d.popitem(last=False)


def route_of(scope: dict[str, Any] | Any) -> str:
    """The route template a request matched ("unmatched" for a 404)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class MetricsMiddleware:
    """Times and counts every HTTP request by method, route template and status class."""

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        status = 500  # what the client gets if the app fails before answering

        async def watch(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.metrics.request(
                scope.get("method", ""), route_of(scope), status, time.monotonic() - start
            )


def add_metrics_route(app: Any, ctx: Any) -> None:
    """``GET /metrics`` for admin keys (as the admin routes under ``/v1``)."""
    from starlette.responses import Response  # deferred: Starlette is slow to import

    from muxi_cli.server.admin_routes import require_admin  # deferred: loads muxi's server
    from muxi_cli.server.app import authenticate_request  # deferred: loads muxi's server

    metrics: ServerMetrics = ctx.metrics

    # A plain Starlette route (it reads the request itself): not in the OpenAPI schema.
    async def get_metrics(request: Any) -> Any:
        client = request.client.host if request.client else None
        require_admin(await authenticate_request(ctx, request.headers, client, request.state))
        body, content_type = await metrics.exposition()
        return Response(body, media_type=content_type)

    app.add_route("/metrics", get_metrics, methods=["GET"], include_in_schema=False)


def loopback_app(metrics: ServerMetrics) -> Any:
    """The ASGI app of ``--metrics-port``: ``/metrics`` without a key, to loopback peers only."""
    from muxi_cli.server.serve import is_loopback  # deferred: loads muxi's server

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        client = scope.get("client") or ("", 0)
        if not client[0] or not is_loopback(client[0]):
            status, body, ctype = 403, b"loopback only\n", "text/plain"
        elif scope.get("path") != "/metrics":
            status, body, ctype = 404, b"see /metrics\n", "text/plain"
        elif scope.get("method") not in ("GET", "HEAD"):
            status, body, ctype = 405, b"GET only\n", "text/plain"
        else:
            status = 200
            body, ctype = await metrics.exposition()
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body if scope["method"] != "HEAD" else b""}
        )

    return app


async def start_loopback(metrics: ServerMetrics, port: int) -> tuple[Any, asyncio.Task[None], int]:
    """Serve :func:`loopback_app` on 127.0.0.1:``port``; returns the server, its task and port.

    Never another address: the exposition has no key, so only this machine may read it.
    """
    import uvicorn  # deferred: uvicorn is slow to import

    config = uvicorn.Config(
        loopback_app(metrics),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    server = uvicorn.Server(config)
    # The API server handles SIGINT/SIGTERM; this one is stopped with it.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110  # uvicorn has no event
        await asyncio.sleep(0.02)
    if not server.started:
        await task  # raises what stopped it
        raise OSError(f"the metrics port 127.0.0.1:{port} could not be opened")
    return server, task, server.servers[0].sockets[0].getsockname()[1]
