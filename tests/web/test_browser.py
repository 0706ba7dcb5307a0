"""The chat app in a real headless Chromium (the OS package), driven by Playwright.

The page is opened with the one-time link (or the sign-in form of ``muxi serve
--web``); the test attaches a file, types a message, sees the streamed reply,
approves a tool call and sees its result, then keeps a
screenshot as an artifact (``$MUXI_TEST_ARTIFACTS``, else ``test-artifacts/``
in the checkout). The terminal is drawn on a canvas, so the text is read from
the terminal stream the page receives over its WebSocket (escape sequences
stripped), and the screenshot is read back with OCR as a last check.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.server.serveproc import ServeProcess
from tests.web.test_serve_web import KEY_RE
from tests.web.webproc import WebProcess

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FORMATION = """
agents:
  - name: assistant
    description: General help
    tools:
      - builtin: calculator
        approval: ask
"""

#: CSI and OSC escape sequences, and the other two-byte escapes.
_ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


class Screen:
    """What the page's terminal was sent, as plain text."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.chunks: list[str] = []
        #: What the page's Content-Security-Policy blocked: nothing, or it is too strict.
        self.blocked: list[str] = []
        page.on("websocket", self._watch)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.blocked.append(message.text)

    def _watch(self, socket: Any) -> None:
        socket.on("framereceived", self._frame)

    def _frame(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            self.chunks.append(payload.decode("utf-8", "replace"))

    def text(self) -> str:
        return _ESCAPES.sub("", "".join(self.chunks))

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        """Until ``needle`` has been drawn (Playwright delivers events while it waits)."""
        waited = 0.0
        while needle not in self.text():
            if waited >= timeout:
                tail = self.text()[-1500:]
                raise AssertionError(f"{needle!r} not drawn in {timeout} s; last text:\n{tail}")
            self.page.wait_for_timeout(100)
            waited += 0.1


def artifacts_dir() -> Path:
    path = Path(os.environ.get("MUXI_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def web(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[WebProcess]:
    config = tmp_path / "muxi.yaml"
    config.write_text(fake_llm.formation_yaml(extra=FORMATION), encoding="utf-8")
    with WebProcess(tmp_path / "home", "--config", str(config)) as proc:
        yield proc


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (scripts/os-packages installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright's own browser download needs the internet; the OS package does not.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


def test_chat_in_the_browser(web: WebProcess, browser: Any, fake_llm: FakeLLM) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    screen = Screen(page)
    page.goto(web.link)
    assert page.url == web.base + "/"  # the token left the address bar
    converse(page, screen, fake_llm, "web-chat", notes_file(web.home))


def test_chat_under_muxi_serve_web(tmp_path: Path, fake_llm: FakeLLM, browser: Any) -> None:
    config = tmp_path / "muxi.yaml"
    config.write_text(fake_llm.formation_yaml(extra=FORMATION), encoding="utf-8")
    with ServeProcess(tmp_path / "home", config, args=("--web",)) as server:
        admin = KEY_RE.findall(server.log())[0]
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        screen = Screen(page)
        page.goto(server.url + "/web/")
        page.fill("input[name=key]", admin)
        page.click("button[type=submit]")
        page.wait_for_url(server.url + "/web/")
        converse(page, screen, fake_llm, "serve-web-chat", notes_file(tmp_path))


def converse(page: Any, screen: Screen, fake_llm: FakeLLM, name: str, notes: Path) -> None:
    """An attached file and a streamed reply, then a tool call approved in the
    browser; screenshots kept."""
    fake_llm.script(
        Text("Hello from the fake model, streamed in pieces.", chunks=6),
        ToolCalls([("calculator", {"expression": "6*7"})]),
        Text("The answer is 42."),
    )
    screen.wait_for("openai/fake-model", timeout=60)  # connected: the status bar names it
    page.click("#terminal")
    # A file of the serving machine goes with the message, as in a terminal.
    page.keyboard.type(f"/attach {notes}")
    screen.wait_for(notes.name)  # path completion offers it
    page.keyboard.press("Enter")
    screen.wait_for("Backspace in an empty input removes a file", timeout=10)  # the chip bar
    page.keyboard.type("hi there")
    page.keyboard.press("Enter")
    screen.wait_for("Hello from the fake model, streamed in pieces.")
    sent = [r for r in fake_llm.requests if r["path"] == "/v1/chat/completions"]
    assert "hi there" in str(sent[0]["messages"][-1]["content"])
    assert "ship it" in str(sent[0]["messages"])

    page.keyboard.type("6 times 7?")
    page.keyboard.press("Enter")
    screen.wait_for("Allow once")
    page.screenshot(path=str(artifacts_dir() / f"{name}-approval.png"))
    page.keyboard.press("y")
    screen.wait_for("The answer is 42.")
    sent = [r for r in fake_llm.requests if r["path"] == "/v1/chat/completions"]
    results = [m for r in sent for m in r["messages"] if m.get("role") == "tool"]
    assert results and "42" in str(results[-1]["content"])  # the approved call ran

    shot = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    drawn = ocr_text(shot)
    assert "answer is 42" in drawn, drawn
    assert not screen.blocked, screen.blocked


def notes_file(folder: Path) -> Path:
    path = folder / "plan-notes.md"
    path.write_text("# Plan\nship it\n", encoding="utf-8")
    return path


def ocr_text(path: Path) -> str:
    """The text on the screenshot (the canvas is pixels; OCR reads them back)."""
    from rapidocr_onnxruntime import RapidOCR  # deferred: loads onnxruntime and the models

    result, _ = RapidOCR()(str(path))
    return "\n".join(line[1] for line in result or ())
