"""Open the remote runtime of this formation's warm host, if there is a usable one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

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
    from muxi_cli.runtime.remote import RemoteRuntime  # deferred: httpx (~50 ms)

    runtime = RemoteRuntime(HOST_URL, address.token, uds=address.socket, label="host")
    try:
        await runtime.whoami()
    except Exception as exc:  # any trouble: run in-process instead
        notice(f"host {address.id} did not answer ({exc}); running in this process")
        await runtime.aclose()
        return None
    return runtime
