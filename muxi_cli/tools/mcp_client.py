"""One MCP server connection: start in the background, call, restart, stop.

Each connection is owned by a background task that enters the SDK's
``mcp.Client`` and holds it open until asked to stop (the SDK's transports
must be entered and left in the same task). Calls from any task go through
the open client. A stdio server that dies mid-session is restarted on the
next use; a call that was in flight gets a tool error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast
from urllib.parse import urlsplit

from muxi_cli import __version__, tracecontext
from muxi_cli.config.masking import configured_secrets
from muxi_cli.errors import ToolError
from muxi_cli.redact import redact, redact_args
from muxi_cli.tools.base import ServerStatus, ToolOutcome
from muxi_cli.tools.mcp_hooks import client_hooks, progress_callback
from muxi_cli.tools.mcp_input import InFlight
from muxi_cli.tools.results import call_result_to_outcome, prompt_to_text, resource_to_text
from muxi_cli.tools.stderr_tail import StderrTail

if TYPE_CHECKING:
    from mcp import Client

    from muxi_cli.config.schema import FileToolsConfig, MCPServerConfig

State = Literal["starting", "ready", "failed", "stopped", "disabled"]

#: Besides what the SDK passes (HOME, LOGNAME, PATH, SHELL, TERM, USER), stdio
#: servers get these from muxi's environment. Provider keys are never passed:
#: a server gets secrets only through its own ``env:``.
EXTRA_INHERITED_ENV = (
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "VIRTUAL_ENV",
)
STOP_TIMEOUT = 8.0
#: A server that died is restarted on next use; after this many failed
#: restarts in a row its tools are no longer offered.
MAX_RESTART_FAILURES = 3
_LIST_PAGE_CAP = 100
_CONNECTION_CLOSED = -32000
#: ``auth`` of a remote server that wants a login (muxi_cli/tools/mcp_oauth.py).
LOGIN_DUE = "oauth: login required"
_REQUEST_HINT = (
    "Check the name and arguments (`muxi mcp prompts SERVER`, `muxi mcp resources SERVER`); "
    "`muxi mcp list` shows the server's state."
)


class ServerUnavailable(Exception):
    """The server cannot take requests now (failed to start, stopped)."""


def quiet_sdk_logging() -> None:
    """The SDK logs transport teardown noise at ERROR; muxi reports failures itself."""
    if os.environ.get("MUXI_DEBUG"):
        return
    for name in ("mcp", "httpx2", "httpx"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.CRITICAL)


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_flatten(inner))
        return out
    return [exc]


def describe_error(exc: BaseException) -> str:
    """A one-line description of what went wrong (exception groups unwrapped)."""
    leaves = [e for e in _flatten(exc) if not isinstance(e, asyncio.CancelledError)] or [exc]
    # Prefer the transport's own error over the "connection closed" it caused.
    leaves.sort(key=lambda e: "Connection closed" in str(e))
    first = leaves[0]
    text = str(first).strip() or type(first).__name__
    if "Connection closed" in text:
        return "the server closed the connection"
    name = type(first).__name__
    return text if name in text else f"{name}: {text}"


def safe_url(url: str) -> str:
    """``url`` without credentials or query string (for messages)."""

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class MCPConnection:
    """A single configured MCP server."""

    #: The muxi user whose OAuth tokens this connection uses (``muxi serve``); None: the local user.
    oauth_user: str | None = None
    #: OAuth state for ``status()`` (set by ``_oauth_settled``); None: the server asked for none.
    auth: str | None = None
    #: The stored login when a login was last found due (mcp_relogin.py: a new one retries).
    login_seen: str | None = None

    def __init__(self, name: str, config: MCPServerConfig, base_dir: Path) -> None:
        self.name = name
        self.config = config
        self.base_dir = base_dir
        self.transport: str = config.transport
        self.state: State = "starting" if config.enabled else "disabled"
        self.error: str | None = None
        self.started_ms: int | None = None
        self.tools: list[Any] = []
        #: Bumped for every failure, so each one is reported once.
        self.failure_id = 0
        self._was_ready = False
        self._restart_failures = 0
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stderr: StderrTail | None = None
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._gen = 0
        self._cancelled_gen = -1
        # Elicitation/sampling go to the turn of the call that caused them (mcp_input.py).
        self._inflight = InFlight()
        #: The formation's ``files`` section, for ``roots/list`` (set by the tool manager).
        self.file_roots: FileToolsConfig | None = None

    # -- status --------------------------------------------------------------

    def status(self) -> ServerStatus:
        self._check_alive()
        return ServerStatus(
            name=self.name,
            transport=self.transport,
            state=self.state,
            tool_count=len(self.tools) if self.state == "ready" else 0,
            started_ms=self.started_ms,
            error=self.error,
            auth=self.auth,
        )

    @property
    def ready(self) -> bool:
        self._check_alive()
        return self.state == "ready"

    @property
    def usable(self) -> bool:
        """Ready now, or died after being ready (it restarts on next use)."""
        return self.ready or (
            self.state == "failed"
            and self._was_ready
            and self._restart_failures < MAX_RESTART_FAILURES
        )

    def _closed(self) -> bool:
        client = self._client
        if client is None:
            return True
        session = getattr(client, "_session", None)
        dispatcher = getattr(session, "_dispatcher", None)
        return bool(getattr(dispatcher, "_closed", False)) or session is None

    def _check_alive(self) -> None:
        if self.state == "ready" and (
            self._closed() or (self._task is not None and self._task.done())
        ):
            self._fail("the server stopped unexpectedly; it will be restarted on next use")

    def _fail(self, message: str) -> None:

        tail = self._stderr.tail() if self._stderr is not None else ""
        self.state = "failed"
        lines = [message]
        if self.config.command:  # what was run, so the failure can be reproduced by hand
            argv = [self.config.command, *redact_args(self.config.args)]
            lines.append(f"command: {shlex.join(argv)}")
        if tail:
            lines.append(f"stderr (last lines):\n{tail}")
        # A crashing server prints its command line, tokens and DSNs: this
        # text reaches logs, `muxi mcp list` and the server's API.
        known = configured_secrets(self.config.model_dump(), "mcp_server")
        self.error = redact("\n".join(lines), known)
        self.failure_id += 1
        self._settled.set()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if not self.config.enabled:
            self.state = "disabled"
            self._settled.set()
            return
        self._gen += 1
        self.state = "starting"
        self.error = None
        # The previous tool list stays until the new one arrives (a restarting
        # server keeps its tools offered).
        self._client = None
        self._settled = asyncio.Event()
        self._stop = asyncio.Event()
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = StderrTail() if self.transport == "stdio" else None
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(self._gen), name=f"mcp:{self.name}")
        self._timeout_handle = loop.call_later(self.config.startup_timeout, self._startup_timed_out)

    async def wait_settled(self, timeout: float | None = None) -> None:
        """Wait until the server is ready or has failed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._settled.wait()

    def _startup_timed_out(self) -> None:
        if self.state != "starting" or self._task is None:
            return
        self._fail(f"did not answer within {self.config.startup_timeout:g}s (startup_timeout)")
        self._cancel_task()

    def _cancel_task(self) -> None:
        # Cancel a task once only: a second cancel lands inside the SDK's
        # shielded transport shutdown and can stall it.
        if self._task is not None and not self._task.done() and self._cancelled_gen != self._gen:
            self._cancelled_gen = self._gen
            self._task.cancel()

    async def _run(self, gen: int) -> None:
        from mcp import Client  # deferred: the MCP SDK is slow to import
        from mcp_types import Implementation  # deferred: mcp_types is slow to import

        from muxi_cli.tools.mcp_input_sdk import (
            callbacks as input_callbacks,  # deferred: imports the MCP SDK
        )

        def current() -> bool:
            return gen == self._gen

        started = time.perf_counter()
        stop = self._stop
        settled = self._settled
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = Client(
                    self._transport(),
                    client_info=Implementation(name="muxi", version=__version__),
                    **input_callbacks(self.name, self._inflight),
                    # Log messages and roots (muxi_cli/tools/mcp_hooks.py).
                    **client_hooks(self.name, self.file_roots, self.base_dir),
                )
                await stack.enter_async_context(client)
                tools: list[Any] = []
                cursor: str | None = None
                for _ in range(_LIST_PAGE_CAP):
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
                if not current() or self.state != "starting":  # timed out or stopped meanwhile
                    return
                if self._timeout_handle is not None:
                    self._timeout_handle.cancel()
                self._client = client
                self.tools = tools
                self.started_ms = round((time.perf_counter() - started) * 1000)
                self.state = "ready"
                self._was_ready = True
                self._oauth_settled(None)
                settled.set()
                await stop.wait()
        except asyncio.CancelledError:
            if current() and self.state == "starting":
                self._fail("startup was cancelled")
        except FileNotFoundError as exc:
            if current():
                self._fail(f"command not found: {exc.filename or self.config.command}")
        except BaseException as exc:  # an exception group from the transport
            if current() and self.state in ("starting", "ready"):
                self._fail(self._describe_failure(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            if current():
                if self._timeout_handle is not None:
                    self._timeout_handle.cancel()
                self._client = None
            settled.set()

    def _describe_failure(self, exc: BaseException) -> str:
        login = self._oauth_settled(exc)
        if login is not None:
            return login
        detail = describe_error(exc)
        if self.state == "ready":
            return f"stopped unexpectedly: {detail}"
        if self.transport == "stdio":
            if detail == "the server closed the connection":
                return "exited during startup"
            return f"could not start: {detail}"
        return f"could not connect to {safe_url(self.config.url or '')}: {detail}"

    def _transport(self) -> Any:
        cfg = self.config
        if cfg.command:
            from mcp.client.stdio import (  # deferred: the MCP SDK is slow to import
                StdioServerParameters,
                stdio_client,
            )

            env = {k: os.environ[k] for k in EXTRA_INHERITED_ENV if k in os.environ}
            env.update(cfg.env)
            path = env.get("PATH", os.environ.get("PATH", os.defpath))
            command = cfg.command
            if os.sep in command or (os.altsep and os.altsep in command):
                command = (
                    str((self.base_dir / command).resolve())
                    if not os.path.isabs(command)
                    else command
                )
                if not os.path.exists(command):
                    raise FileNotFoundError(2, "not found", cfg.command)
            elif shutil.which(command, path=path) is None:
                raise FileNotFoundError(2, "not found", cfg.command)
            cwd = self.base_dir / cfg.cwd if cfg.cwd else self.base_dir
            params = StdioServerParameters(
                command=command, args=list(cfg.args), env=env, cwd=str(cwd)
            )
            assert self._stderr is not None
            return stdio_client(params, errlog=cast("TextIO", self._stderr.file))
        assert cfg.url is not None
        from muxi_cli.tools.mcp_oauth import transport_with_oauth  # deferred: only remote servers

        authed = transport_with_oauth(self.name, cfg, self.oauth_user, self._login_due)
        if authed is not None:
            return authed
        if self.transport == "sse":
            from mcp.client.sse import sse_client  # deferred: the MCP SDK is slow to import

            return sse_client(cfg.url, headers=dict(cfg.headers) or None)
        return _http_transport(cfg.url, dict(cfg.headers))

    def _login_due(self) -> None:
        self.auth = LOGIN_DUE

    def _login_text(self) -> str:
        from muxi_cli.tools.mcp_oauth import LoginRequired  # deferred: only remote servers

        return str(LoginRequired(self.name, self.oauth_user))

    def _oauth_settled(self, exc: BaseException | None) -> str | None:
        """Record the OAuth state once connected or failed; a failure's text if a login is due."""
        from muxi_cli.tools import mcp_oauth  # deferred: only remote servers

        self.auth, message = mcp_oauth.settled_state(self.name, self.config, self.oauth_user, exc)
        if self.auth == LOGIN_DUE:
            from muxi_cli.tools.mcp_relogin import stored_login  # deferred: as mcp_oauth

            self.login_seen = stored_login(self)
        return message

    async def stop(self) -> None:
        """Stop the server (bounded time)."""
        if self.state in ("starting", "ready") or (self.state == "failed" and self._was_ready):
            self.state = "stopped"
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            if self._client is None:
                self._cancel_task()
            await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def restart(self) -> None:
        task = self._task
        self._stop.set()
        if task is not None and not task.done():
            if self._client is None:
                self._cancel_task()
            await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        self.start()

    async def _ready_client(self) -> Client:
        """The open client, restarting a server that died after it was ready."""
        if self.ready and self._client is not None:
            return self._client
        async with self._lock:
            restarted = False
            # A server that wanted a login is tried again: the user may have run `muxi mcp login`.
            if self.state == "failed" and (self._was_ready or self.auth == LOGIN_DUE):
                await self.restart()
                restarted = True
            if self.state == "starting":
                await self.wait_settled(self.config.startup_timeout + 1)
            if restarted:
                self._restart_failures = 0 if self.state == "ready" else self._restart_failures + 1
            client = self._client
            if self.state != "ready" or client is None:
                reason = self.error or self.state
                raise ServerUnavailable(f"MCP server {self.name!r} is not available: {reason}")
            return client

    # -- requests ------------------------------------------------------------

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
        from mcp.shared.exceptions import MCPError  # deferred: the MCP SDK is slow to import

        try:
            client = await self._ready_client()
        except ServerUnavailable as exc:
            return ToolOutcome(ok=False, content=str(exc))
        timeout = self.config.call_timeout
        if self._stderr is not None:
            self._stderr.trim()
        try:
            async with asyncio.timeout(timeout) as limit:
                # The caller's trace context, when telemetry is on (muxi_cli/tracecontext.py).
                meta = tracecontext.outgoing()
                with self._inflight.call(limit):
                    result = await client.call_tool(
                        tool,
                        arguments,
                        meta=cast(Any, meta) or None,
                        progress_callback=progress_callback(),  # to this turn's tool.progress
                    )
        except TimeoutError:
            return ToolOutcome(ok=False, content=f"{self.name}/{tool} timed out after {timeout:g}s")
        except MCPError as exc:
            if self.auth == LOGIN_DUE:  # the server refused the grant mid-session
                self._fail(self._login_text())
                return ToolOutcome(ok=False, content=f"MCP server {self.name!r}: {self.error}")
            if exc.code == _CONNECTION_CLOSED or self._closed():
                self._fail("the server stopped during a call; it will be restarted on next use")
                return ToolOutcome(
                    ok=False,
                    content=f"MCP server {self.name!r} stopped while running {tool!r}; "
                    "it will be restarted on next use",
                )
            return ToolOutcome(ok=False, content=f"MCP error {exc.code}: {exc.message}")
        except Exception as exc:
            if self._closed():
                self._fail(f"the server stopped during a call: {describe_error(exc)}")
            return ToolOutcome(
                ok=False, content=f"{self.name}/{tool} failed: {describe_error(exc)}"
            )
        return call_result_to_outcome(result)

    async def _request(self, what: str, fn: Any) -> Any:
        from mcp.shared.exceptions import MCPError  # deferred: the MCP SDK is slow to import

        try:
            client = await self._ready_client()
        except ServerUnavailable as exc:
            raise ToolError(str(exc), "Run `muxi mcp list` to see why the server failed.") from exc
        try:
            async with asyncio.timeout(self.config.call_timeout) as limit:
                with self._inflight.call(limit):  # whose a server's question is (mcp_input)
                    return await fn(client)
        except TimeoutError as exc:
            raise ToolError(
                f"{what} on {self.name!r} timed out",
                f"raise call_timeout of mcp_servers.{self.name} in muxi.yaml "
                f"(now {self.config.call_timeout:g} s), or check the server",
            ) from exc
        except MCPError as exc:
            if exc.code == _CONNECTION_CLOSED:
                self._fail("the server stopped during a request; it will be restarted on next use")
            raise ToolError(
                f"{what} on {self.name!r} failed: {exc.message}", _REQUEST_HINT
            ) from exc
        except Exception as exc:
            raise ToolError(
                f"{what} on {self.name!r} failed: {describe_error(exc)}", _REQUEST_HINT
            ) from exc

    async def list_prompts(self) -> list[dict[str, Any]]:
        result = await self._request("listing prompts", lambda c: c.list_prompts())
        return [
            {
                "name": p.name,
                "description": p.description or "",
                "arguments": [
                    {
                        "name": a.name,
                        "description": a.description or "",
                        "required": bool(a.required),
                    }
                    for a in (p.arguments or [])
                ],
            }
            for p in result.prompts
        ]

    async def get_prompt(self, name: str, arguments: dict[str, str]) -> str:
        result = await self._request(
            f"getting prompt {name!r}", lambda c: c.get_prompt(name, arguments or None)
        )
        return prompt_to_text(result)

    async def list_resources(self) -> list[dict[str, Any]]:
        result = await self._request("listing resources", lambda c: c.list_resources())
        items: list[dict[str, Any]] = [
            {
                "uri": str(r.uri),
                "name": r.name,
                "description": r.description or "",
                "mime_type": r.mime_type or "",
            }
            for r in result.resources
        ]
        with contextlib.suppress(Exception):
            templates = await self._request(
                "listing resource templates", lambda c: c.list_resource_templates()
            )
            items.extend(
                {
                    "uri": str(t.uri_template),
                    "name": t.name,
                    "description": t.description or "",
                    "mime_type": t.mime_type or "",
                    "template": True,
                }
                for t in templates.resource_templates
            )
        return items

    async def read_resource(self, uri: str) -> str:
        result = await self._request(f"reading {uri}", lambda c: c.read_resource(uri))
        return resource_to_text(result)


@contextlib.asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    from mcp.client.streamable_http import (
        streamable_http_client,  # deferred: the MCP SDK is slow to import
    )
    from mcp.shared._httpx_utils import (
        create_mcp_http_client,  # deferred: the MCP SDK is slow to import
    )

    async with (
        create_mcp_http_client(headers=headers or None) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams
