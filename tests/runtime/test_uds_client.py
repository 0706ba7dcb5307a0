"""The client half of the local host's transport: ``unix:`` URLs and a missing socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from muxi_cli.errors import ConnectionFailedError, UsageError
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.client import ServerClient
from muxi_cli.runtime.profiles import normalize_url
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.runtime.wire import UNIX_URL
from tests.server.udsfixtures import UdsServed


def test_a_profile_may_name_a_unix_socket() -> None:
    assert normalize_url("unix:/run/muxi/h.sock/") == "unix:/run/muxi/h.sock"
    with pytest.raises(UsageError):
        normalize_url("unix:relative.sock")


async def test_a_unix_url_reaches_the_server_on_the_socket(uds_served: UdsServed) -> None:
    async with ServerClient(f"unix:{uds_served.socket}", uds_served.alice) as client:
        assert client.url == UNIX_URL and client.uds == uds_served.socket
        me = await client.check()
    assert me["user_id"] == "alice" and me["server_version"]


@pytest.mark.parametrize("approval", ["deny", "interactive"])
async def test_a_missing_socket_is_a_connection_failure_naming_it(
    sock_dir: Path, approval: str
) -> None:
    gone = sock_dir / "gone.sock"
    rt = RemoteRuntime(UNIX_URL, "key", uds=gone, reconnect_attempts=1)
    try:
        with pytest.raises(ConnectionFailedError, match=str(gone)):
            await rt.chat(ChatRequest(message="hi", approval=approval))  # type: ignore[arg-type]
    finally:
        await rt.aclose()
