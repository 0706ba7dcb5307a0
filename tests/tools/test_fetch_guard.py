"""fetch_url's private-address guard: rebinding, failed lookups with a proxy,
embedded IPv4 forms, numeric literals and redirect hops (issue 13, hole 5)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from muxi_cli.config.schema import Formation
from muxi_cli.tools.base import ToolOutcome
from muxi_cli.tools.builtins import BuiltinContext, fetch, get_builtin
from muxi_cli.tools.builtins.netguard import is_public, literal_address

PUBLIC = "93.184.216.34"


class Loopback:
    """A loopback service the fetches must never reach; counts every request."""

    def __init__(self) -> None:
        hits = self.hits = []  # type: list[str]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                hits.append(self.path)
                body = b"internal admin secret"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal() -> Iterator[Loopback]:
    service = Loopback()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def no_outside(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Requests to the documentation address PUBLIC never leave the machine: the
    transport answers them itself (a 302 for /to-*, else a connect error).
    Everything else goes through the real transport. Returns the hosts dialled."""
    dialled: list[str] = []
    real = httpx.AsyncHTTPTransport.handle_async_request

    async def handle(self: Any, request: httpx.Request) -> httpx.Response:
        dialled.append(request.url.host)
        if request.url.host == PUBLIC:
            target = request.url.path.removeprefix("/to-")
            if target != request.url.path:
                return httpx.Response(302, headers={"Location": "http://" + target})
            raise httpx.ConnectError("no route (test)", request=request)
        return await real(self, request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle)
    return dialled


async def run_fetch(url: str, tmp_path: Path) -> ToolOutcome:
    formation = Formation.model_validate({"fetch": {"timeout": 5}})
    return await get_builtin("fetch_url").run({"url": url}, BuiltinContext(formation, tmp_path))


def fake_getaddrinfo(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]], fail: set[str] = frozenset()
) -> dict[str, int]:
    """socket.getaddrinfo that answers ``answers[host]`` in turn (the last one
    repeats) and raises for ``fail``; the counts of lookups per host are returned."""
    real = socket.getaddrinfo
    calls: dict[str, int] = {}

    def lookup(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in fail:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if name not in answers:
            return real(host, port, *args, **kw)
        n = calls.get(name, 0)
        calls[name] = n + 1
        ip = answers[name][min(n, len(answers[name]) - 1)]
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (ip, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return calls


async def test_dns_rebinding_never_reaches_the_loopback_service(
    internal: Loopback, no_outside: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # First answer public (the check), every later one loopback (a second
    # lookup at connect time would land on the internal service).
    calls = fake_getaddrinfo(monkeypatch, {"rebind.test": [PUBLIC, "127.0.0.1"]})
    out = await run_fetch(f"http://rebind.test:{internal.port}/admin", tmp_path)
    assert internal.hits == []
    assert "internal admin secret" not in out.content
    assert not out.ok
    assert calls == {"rebind.test": 1}  # resolved once ...
    assert no_outside == [PUBLIC]  # ... and connected to exactly that answer


async def test_injected_resolver_public_then_loopback(
    internal: Loopback, no_outside: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])

    async def resolver(host: str) -> list[str]:
        return next(answers)

    monkeypatch.setattr(fetch, "resolve", resolver)
    out = await run_fetch(f"http://rebind.test:{internal.port}/admin", tmp_path)
    assert internal.hits == [] and not out.ok
    assert no_outside == [PUBLIC]


async def test_a_failed_lookup_with_a_proxy_set_is_refused(
    internal: Loopback, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The "proxy" is the loopback service: it must not receive the request.
    proxy = f"http://127.0.0.1:{internal.port}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    fake_getaddrinfo(monkeypatch, {}, fail={"only-the-proxy-knows.test"})
    out = await run_fetch("http://only-the-proxy-knows.test/x", tmp_path)
    assert internal.hits == []
    assert not out.ok and "cannot resolve" in out.content


async def test_environment_proxies_are_not_used(
    internal: Loopback, no_outside: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{internal.port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{internal.port}")
    fake_getaddrinfo(monkeypatch, {"example.test": [PUBLIC]})
    out = await run_fetch("http://example.test/page", tmp_path)
    assert internal.hits == [] and not out.ok
    assert no_outside == [PUBLIC]


@pytest.mark.parametrize(
    "target",
    ["127.0.0.1:{port}/admin", "private.test:{port}/admin", "2130706433:{port}/admin"],
)
async def test_every_redirect_hop_is_checked(
    target: str,
    internal: Loopback,
    no_outside: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake_getaddrinfo(monkeypatch, {"start.test": [PUBLIC], "private.test": ["127.0.0.1"]})
    out = await run_fetch(f"http://start.test/to-{target.format(port=internal.port)}", tmp_path)
    assert internal.hits == []
    assert not out.ok and "refused to fetch" in out.content and "not public" in out.content


@pytest.mark.parametrize(
    "host",
    [
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[2002:a00:1::1]",  # 6to4 of 10.0.0.1
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",  # IPv4-compatible
        "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo (client 127.0.0.1)
        "0.0.0.0",
        "[::]",
        "2130706433",  # decimal 127.0.0.1
        "0177.0.0.1",  # octal
        "0x7f000001",  # hex
        "0x7f.1",
        "127.1",
    ],
)
async def test_disguised_private_addresses_are_refused(
    host: str, internal: Loopback, tmp_path: Path
) -> None:
    out = await run_fetch(f"http://{host}:{internal.port}/admin", tmp_path)
    assert internal.hits == []
    assert not out.ok and "refused to fetch" in out.content, out.content


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("2002:808:808::1", True),  # 6to4 of a public address
        ("64:ff9b::c0a8:1", False),  # NAT64 of 192.168.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("::ffff:10.1.2.3", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("224.0.0.251", False),  # multicast
        ("100.64.0.1", False),  # carrier-grade NAT
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_numeric_literals_are_read_like_the_c_library() -> None:
    assert str(literal_address("2130706433")) == "127.0.0.1"
    assert str(literal_address("0177.0.0.1")) == "127.0.0.1"
    assert str(literal_address("[::1]")) == "::1"
    assert literal_address("example.com") is None
    assert literal_address("1.example") is None
