"""The one HTTP client to a muxi server (``muxi_cli/runtime/client.py``) and its error mapping.

Against a real ``muxi serve`` on loopback: a good key, a wrong key, no key, a
key without the right. Against a port nobody listens on: the server is down.
Against a small stand-in HTTP server in this process: the answers a muxi
server does not give (5xx, a bare 401, HTML, a /health that is not muxi's).
The same mapping reaches the three users of the client: ``RemoteRuntime``,
``muxi keys`` (remote profile) and ``muxi profile test``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.errors import (
    ConnectionFailedError,
    ExitCode,
    ForbiddenError,
    MuxiError,
    NotFoundError,
    ServerAuthError,
)
from muxi_cli.runtime import profiles
from muxi_cli.runtime.client import USER_AGENT, ServerClient
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.net import free_port
from tests.server.serveproc import ServeProcess

WRONG = "muxi_0000000000_" + "x" * 43


@pytest.fixture(scope="module")
def served(
    module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    """``(url, admin key, user key)`` of a real ``muxi serve``."""
    root = tmp_path_factory.mktemp("client")
    home = root / "home"
    keys = KeyStore(home / "data" / "server_keys.json")
    _, admin = keys.create("admin", "admin")
    _, alice = keys.create("user", "alice")
    proc = ServeProcess(home, module_llm.write_formation(root)).start()
    try:
        yield proc.url, admin, alice
    finally:
        assert proc.stop() == 0, proc.log()


class StandIn(BaseHTTPRequestHandler):
    """Answers a path with ``/status/CODE`` in it with that status, others with 200; ``body``."""

    body = b""
    content_type = "text/html"
    seen: list[dict[str, str]] = []  # noqa: RUF012 - the requests' headers, shared on purpose

    def _answer(self) -> None:
        StandIn.seen.append({k.lower(): v for k, v in self.headers.items()})
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        found = re.search(r"/status/(\d{3})", self.path)
        status = int(found.group(1)) if found else 200
        self.send_response(status)
        self.send_header("content-type", self.content_type)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[str]:
    """The URL of a stand-in server in this process; shut down after the test."""
    StandIn.body, StandIn.content_type, StandIn.seen = b"<h1>oops</h1>", "text/html", []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# --------------------------------------------------------------------------- a real muxi serve


async def test_check_reports_the_server_and_the_key(served: tuple[str, str, str]) -> None:
    url, admin, alice = served
    async with ServerClient(url + "/", admin) as client:
        me = await client.check()
        assert client.opened
    assert me["role"] == "admin" and me["user_id"] == "admin" and me["server_version"]
    assert not client.opened  # closed with the block
    async with ServerClient(url, alice) as client:
        assert (await client.check())["user_id"] == "alice"
        agents = await client.request("GET", "/v1/agents")
        assert [a["name"] for a in agents]


async def test_a_wrong_key_is_an_auth_error(served: tuple[str, str, str]) -> None:
    url = served[0]
    async with ServerClient(url, WRONG) as client:
        with pytest.raises(ServerAuthError) as info:
            await client.check()
        assert info.value.exit_code == ExitCode.USAGE
        assert "not valid" in info.value.message
        with pytest.raises(ServerAuthError):
            await client.request("GET", "/v1/agents")


async def test_no_key_is_an_auth_error_before_asking(served: tuple[str, str, str]) -> None:
    async with ServerClient(served[0], None) as client:
        with pytest.raises(ServerAuthError, match="no API key is stored for this profile"):
            await client.check()


async def test_the_servers_errors_keep_their_class(served: tuple[str, str, str]) -> None:
    url, _admin, alice = served
    async with ServerClient(url, alice) as client:
        with pytest.raises(ForbiddenError):
            await client.request("GET", "/v1/keys")  # a user key may not list keys
        with pytest.raises(NotFoundError):
            await client.request("GET", "/v1/sessions/no-such-session")


async def test_a_server_that_is_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with ServerClient(url, "muxi_k") as client:
        with pytest.raises(ConnectionFailedError) as info:
            await client.request("GET", "/v1/agents")
    assert info.value.exit_code == ExitCode.RUNTIME
    assert info.value.message.startswith(f"cannot reach the muxi server at {url}: ConnectError")
    assert "muxi serve" in (info.value.hint or "")


# --------------------------------------------------------------------------- answers muxi never gives


async def test_a_5xx_without_a_muxi_body(stand_in: str) -> None:
    async with ServerClient(stand_in, "muxi_k") as client:
        with pytest.raises(MuxiError) as info:
            await client.request("GET", "/status/502")
    assert type(info.value) is MuxiError and info.value.exit_code == ExitCode.RUNTIME
    assert info.value.message == f"unexpected HTTP 502 from {stand_in}"
    assert "is this URL a muxi server?" in (info.value.hint or "")


async def test_a_5xx_with_a_muxi_error_body(stand_in: str) -> None:
    StandIn.content_type = "application/json"
    StandIn.body = json.dumps(
        {"error": {"code": "memory_error", "message": "the store is locked", "hint": "wait"}}
    ).encode()
    async with ServerClient(stand_in, "muxi_k") as client:
        with pytest.raises(MuxiError) as info:
            await client.request("POST", "/status/503", json_body={"x": 1})
    assert info.value.code == "memory_error" and info.value.message == "the store is locked"


async def test_a_bare_401_and_a_non_json_answer(stand_in: str) -> None:
    StandIn.body = b""
    async with ServerClient(stand_in, "muxi_k") as client:
        with pytest.raises(ServerAuthError, match="rejected the API key"):
            await client.request("GET", "/status/401")
        StandIn.body = b"<html>hello</html>"
        with pytest.raises(MuxiError, match="sent a non-JSON answer"):
            await client.request("GET", "/status/200")
        with pytest.raises(MuxiError, match="not like a muxi server"):
            await client.check()


async def test_what_every_request_carries(stand_in: str) -> None:
    StandIn.content_type, StandIn.body = "application/json", b"{}"
    async with ServerClient(stand_in, "muxi_k") as client:
        await client.request("GET", "/x", user_id="bob", params={"a": 1, "b": None})
        await client.send("GET", "/health", auth=False)
    asked, health = StandIn.seen
    assert asked["authorization"] == "Bearer muxi_k" and asked["x-muxi-user-id"] == "bob"
    assert asked["user-agent"] == USER_AGENT
    assert "authorization" not in health


# --------------------------------------------------------------------------- the three users


async def test_remote_runtime_maps_a_5xx(stand_in: str) -> None:
    runtime = RemoteRuntime(stand_in + "/status/500", "muxi_k")
    try:
        with pytest.raises(MuxiError) as info:
            await runtime.agents()
        assert info.value.message == f"unexpected HTTP 500 from {stand_in}/status/500"
    finally:
        await runtime.aclose()


def test_keys_and_profile_map_a_5xx_alike(stand_in: str) -> None:
    expected = f"unexpected HTTP 500 from {stand_in}/status/500"
    profiles.add_profile("standin", stand_in + "/status/500")
    profiles.store_key("standin", "muxi_k")
    result = CliRunner().invoke(app, ["--profile", "standin", "keys", "revoke", "k1"])
    assert result.exit_code == ExitCode.RUNTIME
    assert expected in " ".join(result.stderr.split())
    result = CliRunner().invoke(app, ["profile", "test", "standin"])
    assert result.exit_code == ExitCode.RUNTIME
    assert "not like a muxi server" in " ".join(result.stderr.split())


def test_keys_and_profile_when_the_server_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    profiles.add_profile("down", url)
    profiles.store_key("down", "muxi_k")
    for args in (["--profile", "down", "keys", "revoke", "k1"], ["profile", "test", "down"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == ExitCode.RUNTIME, result.output
        assert f"cannot reach the muxi server at {url}" in " ".join(result.stderr.split())
