"""`muxi chat --attach URL`: downloads from a real HTTP server on 127.0.0.1.

The size is counted while the body streams (a missing Content-Length does
not get past it; a declared one over the limit stops it at once), redirects are limited and must stay
http(s), an error answer stops the command: exit 2, no model call, nothing
stored.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli.test_chat_attach import VISION_MODEL, png, stored_media
from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi as muxi

#: The media store's default per-file limit (bytes).
LIMIT = 20 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Files

    def log_message(self, *args: object) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        path = self.path.split("?", 1)[0]
        if path in self.server.files:
            body, claimed = self.server.files[path]
            self._send(200, body, claimed)
        elif path.startswith("/hop/"):  # /hop/N redirects to /hop/N+1, forever
            self._redirect(f"/hop/{int(path.rsplit('/', 1)[1]) + 1}")
        elif path == "/to-note":
            self._redirect("/docs/note.md")
        elif path == "/to-ftp":
            self._redirect("ftp://127.0.0.1/secret.png")
        elif path == "/endless":  # chunked, no Content-Length, more than the limit
            self._stream(LIMIT + 1024 * 1024)
        elif path == "/declared":  # says up front that it is too large
            self._stream(LIMIT + 1024 * 1024, declared=LIMIT + 1024 * 1024)
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, claimed: str) -> None:
        self.send_response(status)
        self.send_header("content-type", claimed)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, to: str) -> None:
        self.send_response(302)
        self.send_header("location", to)
        self.send_header("content-length", "0")
        self.end_headers()

    def _stream(self, total: int, declared: int | None = None) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        if declared is None:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(declared))
        self.end_headers()
        chunk = b"\x00" * 65536
        try:
            for _ in range(total // len(chunk)):
                if declared is None:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
            if declared is None:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client stopped reading, as it should


class _Files(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.hits: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def web() -> Iterator[_Files]:
    server = _Files()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def formation(fake_llm: FakeLLM, tmp_path: Path) -> Path:
    return fake_llm.write_formation(tmp_path, model=VISION_MODEL)


def test_a_text_url_joins_the_message_after_a_redirect(
    fake_llm: FakeLLM, formation: Path, web: _Files
):
    web.files["/docs/note.md"] = (b"# Notes\nremember the milk\n", "text/markdown")
    fake_llm.script(Text("milk"))
    result = muxi("chat", "what should I remember?", "--attach", f"{web.url}/to-note")
    assert result.returncode == 0, result.stderr
    assert web.hits == ["/to-note", "/docs/note.md"]
    content = fake_llm.requests[-1]["messages"][-1]["content"]
    assert '<attachment name="note.md" type="text/markdown">' in content
    assert "remember the milk" in content


def test_the_type_comes_from_the_bytes_not_the_server(
    fake_llm: FakeLLM, formation: Path, web: _Files, tmp_path: Path
):
    web.files["/download"] = (png(tmp_path / "p.png", (20, 10)).read_bytes(), "text/plain")
    fake_llm.script(Text("an image"))
    result = muxi("chat", "what is it?", "-A", f"{web.url}/download", "-o", "json")
    assert result.returncode == 0, result.stderr
    [processed] = json.loads(result.stdout)["media"]
    assert processed["media_type"] == "image/png" and processed["name"] == "download"
    assert processed["meta"]["width"] == 20


@pytest.mark.parametrize(
    ("path", "code", "says"),
    [
        ("/hop/0", "bad_media", "more than 5 redirects"),
        ("/to-ftp", "bad_media", "only http and https"),
        ("/missing.png", "bad_media", "HTTP 404"),
        ("/endless", "media_too_large", "over 20,971,520 bytes"),
        ("/declared", "media_too_large", "22,020,096 bytes"),
    ],
    ids=["redirect-loop", "redirect-to-ftp", "404", "no-length", "declared-length"],
)
def test_bad_downloads_exit_2_and_store_nothing(
    fake_llm: FakeLLM, formation: Path, web: _Files, muxi_home: Path, path, code, says
):
    result = muxi("chat", "look", "--attach", web.url + path, "-o", "json")
    assert result.returncode == 2, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == code and says in error["message"], error
    assert fake_llm.requests == [] and stored_media(muxi_home) == []
    if path == "/hop/0":
        assert len(web.hits) == 6  # the first request and five redirects, no more


def test_an_unreachable_url_fails_without_a_model_call(fake_llm: FakeLLM, formation: Path):
    from tests.net import free_port

    result = muxi("chat", "look", "-A", f"http://127.0.0.1:{free_port()}/x.png")
    assert result.returncode == 1 and "could not download it" in result.stderr
    assert fake_llm.requests == []
