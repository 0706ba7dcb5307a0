"""The pieces that decide who may open the chat app (muxi_cli.web.gate)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from muxi_cli.web.aioserver import MAX_MESSAGE, WebServer, download_headers
from muxi_cli.web.child import (
    ChatAppService,
    Children,
    ChildSpec,
    TooManyApps,
    chat_app_argv,
    relay,
)
from muxi_cli.web.gate import OneTimeToken, Sessions, loopback_host, same_origin


def test_token_opens_once() -> None:
    token = OneTimeToken()
    assert len(token.value) >= 40
    assert not token.spend(None) and not token.spend("") and not token.spend(token.value + "x")
    assert token.spend(token.value)
    assert not token.spend(token.value)  # spent


def test_sessions_and_cookie() -> None:
    sessions = Sessions("muxi_web_test")
    sid = sessions.open({"MUXI_API_KEY": "k"})
    assert sessions.env(sid) == {"MUXI_API_KEY": "k"}
    assert sessions.env(None) is None and sessions.env("guess") is None
    cookie = sessions.set_cookie(sid, path="/web")
    assert cookie.startswith(f"muxi_web_test={sid}; Path=/web;")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert "Secure" in sessions.set_cookie(sid, secure=True)
    sessions.close(sid)
    assert sessions.env(sid) is None


def test_origin_must_name_the_host() -> None:
    assert same_origin("http://127.0.0.1:8766", "127.0.0.1:8766")
    assert same_origin("https://Example.org", "example.org")
    assert not same_origin(None, "127.0.0.1:8766")
    assert not same_origin("null", "127.0.0.1:8766")
    assert not same_origin("http://evil.example", "127.0.0.1:8766")
    assert not same_origin("http://127.0.0.1:9999", "127.0.0.1:8766")
    assert not same_origin("file://127.0.0.1:8766", "127.0.0.1:8766")


def test_child_command_and_environment() -> None:
    argv = chat_app_argv("prod", "conf/muxi.yaml")
    assert argv[1:5] == ["-m", "muxi_cli", "--profile", "prod"]
    assert argv[5] == "--config" and argv[6].endswith("conf/muxi.yaml") and argv[6][0] == "/"
    assert argv[-2:] == ["web", "--app-process"]
    spec = ChildSpec(argv, env={"A": "1"}, scrub=True)
    server_env = {
        "PATH": "/bin",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": "/src",
        "TEXTUAL_DRIVER": "web",
        "MUXI_ADMIN_KEY": "secret",
        "OPENAI_API_KEY": "sk-provider",
        "ANTHROPIC_API_KEY": "sk-ant",
        "GITHUB_TOKEN": "formation-secret",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/0/bus",  # the keyring's door
    }
    env = spec.environment(server_env, {"MUXI_API_KEY": "u"})
    assert env == {
        "PATH": "/bin",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": "/src",
        "TEXTUAL_DRIVER": "web",
        "A": "1",
        "MUXI_API_KEY": "u",
    }
    # muxi web's own child runs the user's formation: it needs the provider keys.
    assert ChildSpec(argv).environment(server_env, {})["OPENAI_API_KEY"] == "sk-provider"


def test_host_must_name_loopback() -> None:
    for host in ("127.0.0.1:8766", "localhost:9000", "LOCALHOST", "[::1]:8766", "127.0.0.2"):
        assert loopback_host(host), host
    assert not loopback_host(None)
    for other in ("", "rebind.example:8766", "127.0.0.1.rebind.example", "0.0.0.0:8766"):
        assert not loopback_host(other), other
    assert not loopback_host("evil.example@127.0.0.1") and not loopback_host("[::1]x")


def test_delivered_files_run_in_a_sandbox() -> None:
    meta = SimpleNamespace(
        mime_type="text/html", encoding=None, open_method="browser", file_name='a"\r\nX: y'
    )
    headers = download_headers(meta)
    assert headers["Content-Security-Policy"] == "sandbox"  # no script reaches /ws with our Origin
    assert headers["Content-Disposition"] == 'inline; filename="aX: y"'


class _Service:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send_bytes(self, data: bytes) -> bool:
        self.sent.append(data)
        return True


def test_relay_survives_what_a_browser_may_send() -> None:
    async def messages() -> AsyncIterator[str]:
        yield '["stdin", "\\ud800x"]'  # a lone surrogate: UTF-8 has no encoding for it
        yield "[" * 100_000 + "]" * 100_000  # deeper than json's recursion
        for text in ("[[[[", "[]", "{}", '["stdin", 5]', '["stdin", "ok"]'):
            yield text

    async def pong(text: str) -> None:
        pass

    service = _Service()
    asyncio.run(relay(service, messages(), pong))  # type: ignore[arg-type]
    assert service.sent == [b"?x", b"ok"]


def test_the_app_opens_only_web_pages_in_the_browser() -> None:
    """A reply's Markdown link is the model's: ``javascript:`` would run as the page."""
    sent: list[str] = []

    async def write_str(text: str) -> None:
        sent.append(text)

    async def scenario() -> None:
        nothing: Any = None
        service = ChatAppService(
            ChildSpec(_TINY_APP),
            {},
            write_bytes=nothing,
            write_str=write_str,
            close=nothing,
            download_manager=nothing,
        )
        for url in (
            "javascript:fetch('/ws')",
            "JavaScript:alert(1)",
            "java\tscript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https://ok.example/a b",
        ):
            await service.on_meta(_open_url(url))
        await service.on_meta(b"not json")
        for url in ("https://muxi.example/docs", "HTTP://a.example/", "mailto:me@a.example"):
            await service.on_meta(_open_url(url))

    asyncio.run(scenario())
    assert [json.loads(m)[1]["url"] for m in sent] == [
        "https://muxi.example/docs",
        "HTTP://a.example/",
        "mailto:me@a.example",
    ]


#: A stand-in chat app: it runs until it reads its first byte (the quit request).
_TINY_APP = [sys.executable, "-c", "import sys; sys.stdin.buffer.read(1)"]


def test_chat_apps_are_capped() -> None:
    children = Children(limit=1)
    write: Any = None
    children.start_service(
        ChildSpec(_TINY_APP), {}, write_bytes=write, write_str=write, close=write
    )
    with pytest.raises(TooManyApps):
        children.start_service(
            ChildSpec(_TINY_APP), {}, write_bytes=write, write_str=write, close=write
        )

    async def scenario() -> list[int]:
        server = WebServer(ChildSpec(_TINY_APP), children=Children(limit=1))
        sid = server.sessions.open()
        headers = {"Cookie": f"{server.sessions.cookie}={sid}"}
        async with TestServer(server.make_app(), host="127.0.0.1") as site:
            headers["Origin"] = str(site.make_url("")).rstrip("/")
            async with aiohttp.ClientSession(headers=headers) as client:
                first = await client.ws_connect(site.make_url("/ws"))
                try:
                    async with client.get(site.make_url("/ws"), headers=_upgrade()) as second:
                        status = second.status
                    # A message past MAX_MESSAGE ends the connection (1009), not the server.
                    await first.send_str(json.dumps(["stdin", "x" * MAX_MESSAGE]))
                    async with asyncio.timeout(10):
                        while not first.closed:
                            await first.receive()
                finally:
                    await first.close()
                await server.children.stop_all()
                return [status, first.close_code or 0]

    assert asyncio.run(scenario()) == [503, 1009]


def _upgrade() -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }


def _open_url(url: str) -> bytes:
    """The meta packet the web driver sends for ``App.open_url``."""
    return json.dumps({"type": "open_url", "url": url, "new_tab": True}).encode()
