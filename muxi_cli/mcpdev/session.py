"""A developer's connection to one MCP server: connect, list, call, read, render.

:class:`DevSession` is what ``muxi mcp validate|test|docs|inspect`` (and the
inspector screen) use. It reuses the tool layer's
:class:`~muxi_cli.tools.mcp_client.MCPConnection` for everything about the
connection itself (transports, environment, working directory, stderr
capture, startup timeout, restart after a crash) and adds what a developer
needs on top:

* results in the MCP wire shape (``inputSchema``, ``structuredContent``,
  ``isError``...), not the text an agent gets;
* each request classified: ``ok``, ``error`` (a tool error), ``rejected`` (a
  JSON-RPC error), ``bad_output`` (structured content that does not match the
  output schema), ``crash``, ``timeout`` or ``unavailable``, with its time;
* for stdio servers, everything the server printed on stdout that was not
  protocol, captured by :mod:`muxi_cli.mcpdev.stdout_guard`.

Screens receive a ``DevSession`` and never touch the MCP client themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.errors import MuxiError
from muxi_cli.mcpdev.target import resolve_command

if TYPE_CHECKING:
    from mcp import Client

    from muxi_cli.mcpdev.target import Target
    from muxi_cli.tools.mcp_client import MCPConnection

Status = Literal["ok", "error", "rejected", "bad_output", "crash", "timeout", "unavailable"]
#: Statuses that mean the server misbehaved (not just refused a request).
BROKEN: frozenset[str] = frozenset({"crash", "timeout", "bad_output", "unavailable"})
_CONNECTION_CLOSED = -32000
_PAGE_CAP = 100
GUARD_SCRIPT = Path(__file__).with_name("stdout_guard.py")


class ConnectError(MuxiError):
    """The server did not start or did not answer the handshake."""

    code = "mcp_connect_failed"

    def __init__(self, message: str, hint: str | None = None, *, stderr: str = "") -> None:
        super().__init__(message, hint)
        self.stderr = stderr


@dataclass(slots=True)
class Outcome:
    """What one request did."""

    status: Status
    duration_ms: float
    #: The result as text (content blocks joined), for people.
    text: str = ""
    #: The result in MCP wire shape (``content``, ``structuredContent``, ``isError``...).
    raw: dict[str, Any] | None = None
    structured: Any = None
    #: Why it was not ``ok`` (error text, JSON-RPC error, crash details).
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "duration_ms": round(self.duration_ms, 1),
            "text": self.text,
            "structured": self.structured,
            "message": self.message,
            "raw": self.raw,
        }


@dataclass(slots=True)
class ServerMeta:
    name: str = ""
    title: str = ""
    version: str = ""
    instructions: str = ""
    protocol_version: str = ""
    capabilities: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "instructions": self.instructions,
            "protocol_version": self.protocol_version,
            "capabilities": self.capabilities,
        }


@dataclass(slots=True)
class Inventory:
    """Everything a server offers, in wire shape, and the listings that failed."""

    server: ServerMeta
    tools: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    #: listing kind ("tools", "resources", "templates", "prompts") -> error message.
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server.to_dict(),
            "tools": self.tools,
            "resources": self.resources,
            "resource_templates": self.templates,
            "prompts": self.prompts,
            "errors": self.errors,
        }


def wire(obj: Any) -> Any:
    """An SDK model as a JSON-ready dict with the protocol's field names."""
    dump = getattr(obj, "model_dump", None)
    if dump is None:
        return obj
    return dump(mode="json", by_alias=True, exclude_none=True)


def _stderr_from(error: str | None) -> str:
    marker = "stderr (last lines):\n"
    if error and marker in error:
        return error.split(marker, 1)[1]
    return ""


class DevSession:
    """One MCP server, connected on :meth:`connect`, closed on :meth:`aclose`."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = 30.0,
        start_timeout: float | None = None,
        guard_stdout: bool = True,
    ) -> None:
        self.target = target
        #: Bound on each request.
        self.timeout = timeout
        #: Bound on start + handshake (default: the larger of ``timeout`` and 30 s).
        self.start_timeout = start_timeout if start_timeout is not None else max(timeout, 30.0)
        self.guard_stdout = guard_stdout and target.transport == "stdio"
        self.server = ServerMeta()
        self.startup_ms: int | None = None
        self.restarts = 0
        self._report: Path | None = None
        self._conn: MCPConnection | None = None

    # -- lifecycle -----------------------------------------------------------

    def _config(self) -> Any:

        cfg = self.target.config.model_copy(
            update={
                "startup_timeout": self.start_timeout,
                "call_timeout": self.timeout,
                "enabled": True,
            }
        )
        if not self.guard_stdout:
            return cfg
        assert cfg.command is not None
        # Resolved here as the tool layer would (relative paths from base_dir,
        # names on PATH), since the guard runs it by absolute path.
        command = resolve_command(cfg.command, base_dir=self.target.base_dir, env=cfg.env)
        fd, report = tempfile.mkstemp(prefix="muxi-mcp-", suffix=".stdout")
        os.close(fd)
        self._report = Path(report)
        return cfg.model_copy(
            update={
                "command": sys.executable,
                "args": [str(GUARD_SCRIPT), report, "--", command, *cfg.args],
            }
        )

    async def connect(self) -> None:
        """Start the server and complete the handshake (bounded by ``timeout``).

        Raises :class:`ConnectError` with the reason and the server's stderr tail.
        """
        from muxi_cli.tools.mcp_client import (  # deferred: loads pydantic
            MCPConnection,
            quiet_sdk_logging,
        )

        quiet_sdk_logging()
        if self._conn is not None:
            await self._conn.stop()
        self._conn = MCPConnection(self.target.name, self._config(), self.target.base_dir)
        self._conn.start()
        await self._conn.wait_settled(self.start_timeout + 2)
        status = self._conn.status()
        if status.state != "ready":
            error = status.error or f"did not answer within {self.start_timeout:g}s"
            if status.state == "starting":
                error = f"did not answer within {self.start_timeout:g}s"
            head = error.split("\n", 1)[0]  # the target's display already names the command
            raise ConnectError(
                f"{self.target.display}: {head}",
                "Run the server by hand to see its output, or give it more time (--start-timeout).",
                stderr=_stderr_from(status.error),
            )
        self.startup_ms = status.started_ms
        client = await self._client()
        info = getattr(client, "server_info", None)
        caps = getattr(client, "server_capabilities", None)
        self.server = ServerMeta(
            name=str(getattr(info, "name", "") or ""),
            title=str(getattr(info, "title", "") or ""),
            version=str(getattr(info, "version", "") or ""),
            instructions=str(getattr(client, "instructions", "") or ""),
            protocol_version=str(getattr(client, "protocol_version", "") or ""),
            capabilities=wire(caps) if caps is not None else {},
        )

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.stop()
            self._conn = None
        if self._report is not None:
            with contextlib.suppress(OSError):
                self._report.unlink()
            self._report = None

    async def __aenter__(self) -> DevSession:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def restart(self) -> None:
        """Start the server again (after a hang; a crash restarts on next use by itself)."""
        self.restarts += 1
        if self._conn is None:
            await self.connect()
            return
        await self._conn.restart()
        await self._conn.wait_settled(self.start_timeout + 2)

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.usable

    async def _client(self) -> Client:
        from muxi_cli.tools.mcp_client import ServerUnavailable  # deferred: loads pydantic

        if self._conn is None:
            raise ServerUnavailable("not connected")
        # The tool layer's accessor for the open client; it restarts a stdio
        # server that died after it was ready, which is how a test run goes on
        # after a crash.
        return await self._conn._ready_client()

    # -- what the server printed ------------------------------------------------

    def stdout_noise(self) -> list[str]:
        """Lines the server wrote on stdout that were not JSON-RPC (stdio, guarded only)."""
        if self._report is None or not self._report.exists():
            return []
        data = self._report.read_bytes().decode("utf-8", errors="replace")
        return data.splitlines()

    def stderr_tail(self) -> str:
        if self._conn is None:
            return ""
        stderr = getattr(self._conn, "_stderr", None)
        tail = getattr(stderr, "tail", None)
        return str(tail()) if callable(tail) else ""

    # -- listings --------------------------------------------------------------

    async def _paged(self, method: str, attr: str) -> list[dict[str, Any]]:
        client = await self._client()
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        async with asyncio.timeout(self.timeout):
            for _ in range(_PAGE_CAP):
                page = await getattr(client, method)(cursor=cursor)
                items.extend(wire(item) for item in getattr(page, attr))
                cursor = page.next_cursor
                if not cursor:
                    break
        return items

    async def list_tools(self) -> list[dict[str, Any]]:
        return await self._paged("list_tools", "tools")

    async def list_resources(self) -> list[dict[str, Any]]:
        return await self._paged("list_resources", "resources")

    async def list_resource_templates(self) -> list[dict[str, Any]]:
        return await self._paged("list_resource_templates", "resource_templates")

    async def list_prompts(self) -> list[dict[str, Any]]:
        return await self._paged("list_prompts", "prompts")

    def offers(self, capability: str) -> bool:
        """Whether the server announced ``tools``/``resources``/``prompts``."""
        return self.server.capabilities.get(capability) is not None

    async def inventory(self) -> Inventory:
        """List everything; a listing that fails is recorded in ``errors``, not raised."""
        from muxi_cli.tools.mcp_client import describe_error  # deferred: loads pydantic

        inv = Inventory(server=self.server)
        kinds = (
            ("tools", "tools", self.list_tools),
            ("resources", "resources", self.list_resources),
            ("templates", "resources", self.list_resource_templates),
            ("prompts", "prompts", self.list_prompts),
        )
        for kind, capability, fetch in kinds:
            try:
                setattr(inv, kind, await fetch())
            except TimeoutError:
                inv.errors[kind] = f"listing {kind} timed out after {self.timeout:g}s"
            except Exception as exc:
                if self.offers(capability):
                    inv.errors[kind] = f"listing {kind} failed: {_message(exc, describe_error)}"
        return inv

    # -- requests --------------------------------------------------------------

    async def call_tool(
        self, name: str, arguments: dict[str, Any], timeout: float | None = None
    ) -> Outcome:
        from muxi_cli.tools.results import call_result_to_outcome  # deferred: loads pydantic

        async def run(client: Client) -> Any:
            return await client.call_tool(name, arguments)

        def convert(result: Any, elapsed: float) -> Outcome:
            out = call_result_to_outcome(result)
            is_error = bool(getattr(result, "is_error", False))
            return Outcome(
                status="error" if is_error else "ok",
                duration_ms=elapsed,
                text=out.content,
                raw=wire(result),
                structured=out.structured,
                message=out.content if is_error else "",
            )

        return await self._request(f"tool {name!r}", run, convert, timeout)

    async def read_resource(self, uri: str, timeout: float | None = None) -> Outcome:
        from muxi_cli.tools.results import resource_to_text  # deferred: loads pydantic

        async def run(client: Client) -> Any:
            return await client.read_resource(uri)

        def convert(result: Any, elapsed: float) -> Outcome:
            return Outcome("ok", elapsed, text=resource_to_text(result), raw=wire(result))

        return await self._request(f"resource {uri!r}", run, convert, timeout)

    async def get_prompt(
        self, name: str, arguments: dict[str, str], timeout: float | None = None
    ) -> Outcome:
        from muxi_cli.tools.results import prompt_to_text  # deferred: loads pydantic

        async def run(client: Client) -> Any:
            return await client.get_prompt(name, arguments or None)

        def convert(result: Any, elapsed: float) -> Outcome:
            return Outcome("ok", elapsed, text=prompt_to_text(result), raw=wire(result))

        return await self._request(f"prompt {name!r}", run, convert, timeout)

    async def _request(self, what: str, run: Any, convert: Any, timeout: float | None) -> Outcome:
        from mcp.shared.exceptions import MCPError  # deferred: the MCP SDK is slow to import
        from pydantic import ValidationError  # deferred: pydantic is slow to import

        from muxi_cli.tools.mcp_client import (  # deferred: loads pydantic
            ServerUnavailable,
            describe_error,
        )

        limit = timeout if timeout is not None else self.timeout
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        try:
            client = await self._client()
        except ServerUnavailable as exc:
            return Outcome("unavailable", elapsed(), message=str(exc))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                result = await run(client)
        except TimeoutError:
            took = elapsed()
            await self.restart()
            return Outcome(
                "timeout",
                took,
                message=f"{what} did not answer within {limit:g}s; the server was restarted",
            )
        except MCPError as exc:
            took = elapsed()
            if exc.code == _CONNECTION_CLOSED or not self.connected_now():
                return self._crashed(what, took)
            return Outcome("rejected", took, message=f"MCP error {exc.code}: {exc.message}")
        except RuntimeError as exc:  # the SDK checks structured content against outputSchema
            took = elapsed()
            if not self.connected_now():
                return self._crashed(what, took)
            return Outcome("bad_output", took, message=str(exc))
        except ValidationError as exc:
            return Outcome("bad_output", elapsed(), message=f"malformed result: {exc}")
        except Exception as exc:
            took = elapsed()
            if not self.connected_now():
                return self._crashed(what, took)
            return Outcome("rejected", took, message=describe_error(exc))
        return convert(result, elapsed())

    def connected_now(self) -> bool:
        return self._conn is not None and self._conn.ready

    def _crashed(self, what: str, took: float) -> Outcome:
        status = self._conn.status() if self._conn is not None else None
        tail = _stderr_from(status.error if status is not None else None) or self.stderr_tail()
        message = f"the server stopped while answering {what}"
        if self.target.transport == "stdio":
            message += "; it is restarted for the next request"
            self.restarts += 1
        if tail:
            message += f"\nstderr (last lines):\n{tail}"
        return Outcome("crash", took, message=message)


def _message(exc: BaseException, describe: Any) -> str:
    from mcp.shared.exceptions import MCPError  # deferred: the MCP SDK is slow to import

    if isinstance(exc, MCPError):
        return f"MCP error {exc.code}: {exc.message}"
    return str(describe(exc))
