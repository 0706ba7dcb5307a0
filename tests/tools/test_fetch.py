from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from muxi_cli.config.schema import Formation
from muxi_cli.tools.base import ToolOutcome
from muxi_cli.tools.builtins import BuiltinContext, get_builtin
from muxi_cli.tools.builtins.fetch import html_to_text

PAGE = b"""<html><head><title>Test Page</title><style>body{color:red}</style>
<script>var secret = 1;</script></head>
<body><nav>menu menu</nav><h1>Hello</h1><p>First   paragraph.</p><p>Second <b>bold</b>.</p></body></html>"""

RELEASE = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def do_GET(self) -> None:
        if self.path == "/page":
            self._send(200, "text/html; charset=utf-8", PAGE)
        elif self.path == "/oddcharset":
            self._send(200, "text/plain; charset=x-no-such-charset", "caf\u00e9".encode())
        elif self.path == "/json":
            self._send(200, "application/json", b'{"a":1,"b":[1,2]}')
        elif self.path == "/big":
            self._send(200, "text/plain", b"y" * 50_000)
        elif self.path == "/png":
            self._send(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
        elif self.path == "/missing":
            self._send(404, "text/plain", b"not here")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/page")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow":
            RELEASE.wait(10)
            self._send(200, "text/plain", b"late")
        else:
            self._send(500, "text/plain", b"?")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    RELEASE.set()
    server.shutdown()
    server.server_close()


async def fetch(url: str, tmp_path: Path, **limits: object) -> ToolOutcome:
    limits.setdefault("allow_private", True)  # the test site is on loopback
    formation = Formation.model_validate({"fetch": limits})
    return await get_builtin("fetch_url").run({"url": url}, BuiltinContext(formation, tmp_path))


async def test_html_becomes_readable_text(site: str, tmp_path: Path) -> None:
    out = await fetch(f"{site}/page", tmp_path)
    assert out.ok
    assert out.content.startswith("# Test Page")
    assert "Hello" in out.content
    assert "First paragraph." in out.content
    assert (
        "secret" not in out.content and "color:red" not in out.content and "menu" not in out.content
    )
    assert out.structured["status"] == 200


async def test_json_is_pretty_printed(site: str, tmp_path: Path) -> None:
    out = await fetch(f"{site}/json", tmp_path)
    assert out.ok
    assert json.loads(out.content) == {"a": 1, "b": [1, 2]}
    assert "\n" in out.content


async def test_size_limit(site: str, tmp_path: Path) -> None:
    out = await fetch(f"{site}/big", tmp_path, max_bytes=1000)
    assert out.ok
    assert out.content.startswith("y" * 1000)
    assert "y" * 1001 not in out.content
    assert "[truncated at 1000 bytes]" in out.content


async def test_timeout(site: str, tmp_path: Path) -> None:
    out = await fetch(f"{site}/slow", tmp_path, timeout=0.3)
    assert not out.ok
    assert "longer than 0.3s" in out.content or "Timeout" in out.content


async def test_binary_status_and_redirect(site: str, tmp_path: Path) -> None:
    png = await fetch(f"{site}/png", tmp_path)
    assert png.ok and "image/png" in png.content and "not text" in png.content
    missing = await fetch(f"{site}/missing", tmp_path)
    assert not missing.ok and "HTTP 404" in missing.content
    moved = await fetch(f"{site}/redirect", tmp_path)
    assert moved.ok and "Hello" in moved.content


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)", "", "http://"]
)
async def test_only_http_urls(url: str, tmp_path: Path) -> None:
    out = await fetch(url, tmp_path)
    assert not out.ok


async def test_connection_refused(tmp_path: Path) -> None:
    from tests.net import free_port

    out = await fetch(f"http://127.0.0.1:{free_port()}/", tmp_path)
    assert not out.ok and "could not fetch" in out.content


def test_html_to_text() -> None:
    title, text = html_to_text("<title>T</title><p>a</p><p>b</p>")
    assert title == "T"
    assert text == "a\nb"


async def test_unknown_charset_falls_back_to_utf8(site: str, tmp_path: Path) -> None:
    out = await fetch(site + "/oddcharset", tmp_path)
    assert out.ok and out.content == "caf\u00e9"


async def test_pages_are_parsed_off_the_event_loop(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from muxi_cli.tools.builtins import fetch as fetch_module

    loop = asyncio.get_running_loop()
    parsing: asyncio.Future[None] = loop.create_future()
    loop_ran = threading.Event()

    def slow_parse(html: str) -> tuple[str, str]:
        # A parser that needs the event loop to run while it parses.
        loop.call_soon_threadsafe(parsing.set_result, None)
        assert loop_ran.wait(5), "the event loop was blocked while the page was parsed"
        return html_to_text(html)

    async def tick() -> None:
        await parsing
        loop_ran.set()

    monkeypatch.setattr(fetch_module, "html_to_text", slow_parse)
    ticker = loop.create_task(tick())
    out = await fetch(site + "/page", tmp_path)
    await ticker
    assert out.ok and "First paragraph." in out.content


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.1", "[::1]"])
async def test_private_addresses_are_refused_by_default(host: str, tmp_path: Path) -> None:
    out = await fetch(f"http://{host}:9/secret", tmp_path, allow_private=False, timeout=2)
    assert not out.ok
    assert "refused to fetch" in out.content and "allow_private" in out.content
