"""Open the remote runtime of this formation's warm host, if there is a usable one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from muxi_cli.errors import MuxiError
from muxi_cli.host.client import find_host

if TYPE_CHECKING:
    from muxi_cli.runtime.base import Runtime

#: The URL the HTTP client names; the socket decides where requests go.
HOST_URL = "http://muxi-host"


async def open_host_runtime(config: str | None, *, notice: Callable[[str], None]) -> Runtime | None:
    """A ``RemoteRuntime`` over the host's socket after one cheap round trip
    (``/v1/me``: the host answers and takes the token); None otherwise, with
    ``notice`` told why when a host was found but could not be used."""
    address = find_host(config, notice=notice)
    if address is None:
        return None
    from muxi_cli.runtime.remote import RemoteRuntime  # deferred: the protocol, asyncio (~30 ms)

    runtime = RemoteRuntime(HOST_URL, address.token, uds=address.socket, label="host")
    try:
        await runtime.whoami()
    except Exception as exc:  # any trouble: run in-process instead
        notice(f"host {address.id} did not answer ({exc}); running in this process")
        await runtime.aclose()
        return None
    notice("running through the warm host")
    return runtime


@dataclass(frozen=True, slots=True)
class HostedOutcome:
    """A direct tool call's result, as ``muxi mcp call`` prints it."""

    ok: bool
    content: str
    structured: Any = None
    images: list[dict[str, str]] = field(default_factory=list)
    #: Audio and binary embedded resources (``mime``, ``data`` base64, ``name``).
    media: list[dict[str, str]] = field(default_factory=list)


#: A direct tool call may take as long as the tool does.
CALL_TIMEOUT = 600.0


async def call_tool_through_host(
    config: str | None,
    server: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    notice: Callable[[str], None],
) -> HostedOutcome | None:
    """``muxi mcp call`` through the warm host (its MCP server is already up); None
    when there is no usable host. The host's errors are raised as in-process."""
    address = find_host(config, notice=notice)
    if address is None:
        return None
    notice("running through the warm host")
    # deferred: only a found host needs it
    from muxi_cli.runtime.client import ServerClient, never_connected

    client = ServerClient(HOST_URL, address.token, uds=address.socket)
    try:
        data = await client.request(
            "POST",
            f"/v1/mcp/servers/{quote(server, safe='') or '-'}/call",
            json_body={"tool": tool, "arguments": arguments},
            timeout=CALL_TIMEOUT,
        )
    except MuxiError as exc:
        # the host exited since it was found: nothing was sent, so call it here
        if exc.code == "connection_failed" and never_connected(exc):
            notice(f"host {address.id} did not answer ({exc}); running in this process")
            return None
        raise
    finally:
        await client.aclose()
    return HostedOutcome(
        ok=bool(data.get("ok")),
        content=str(data.get("content") or ""),
        structured=data.get("structured"),
        images=list(data.get("images") or []),
        media=list(data.get("media") or []),
    )
