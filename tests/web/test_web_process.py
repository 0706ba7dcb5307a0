"""A real ``muxi web`` process: the one-time link, the session cookie, the Origin check.

One process for the module: its link opens one session, which the tests share.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import psutil
import pytest

from tests.fakellm import FakeLLM
from tests.server.serveproc import server_env
from tests.web.webproc import WebProcess


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, module_llm: FakeLLM) -> Iterator[WebProcess]:
    home = tmp_path_factory.mktemp("web-home")
    config = module_llm.write_formation(home)
    with WebProcess(home, "--config", str(config)) as proc:
        yield proc


@pytest.fixture(scope="module")
def session(web: WebProcess) -> httpx.Cookies:
    """The cookies of the session the link opened (spending the token)."""
    answer = httpx.get(web.link, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    set_cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    assert web.token not in set_cookie
    return answer.cookies


def test_the_link_works_once_and_pages_need_the_cookie(
    web: WebProcess, session: httpx.Cookies
) -> None:
    again = httpx.get(web.link, follow_redirects=False)
    assert again.status_code == 403 and "set-cookie" not in again.headers
    assert web.token not in again.text and "Forbidden" in again.text
    assert httpx.get(web.base + "/").status_code == 403
    assert httpx.get(web.base + "/?token=").status_code == 403
    assert httpx.get(web.base + "/download/x").status_code == 403
    name = next(iter(session))
    assert httpx.get(web.base + "/", cookies={name: "guessed"}).status_code == 403

    page = httpx.get(web.base + "/", cookies=session)
    assert page.status_code == 200
    assert 'data-session-websocket-url="ws://127.0.0.1:' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["cross-origin-opener-policy"] == "same-origin"
    policy = page.headers["content-security-policy"]  # no inline or javascript: code runs
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "onclick" not in page.text
    assert httpx.get(web.base + "/static/js/textual.js").status_code == 200  # public
    assert web.token not in web.log().split("token=", 1)[1].split("\n", 1)[1]  # logged once


def test_the_websocket_needs_cookie_and_same_origin(
    web: WebProcess, session: httpx.Cookies
) -> None:
    ws_url = web.base.replace("http", "ws") + "/ws?width=100&height=30"
    cookie = "; ".join(f"{k}={v}" for k, v in session.items())

    async def attempt(headers: dict[str, str]) -> int | bytes:
        async with aiohttp.ClientSession() as client:
            try:
                async with client.ws_connect(ws_url, headers=headers) as socket:
                    # The chat app draws its first screen: terminal bytes arrive.
                    async with asyncio.timeout(60):
                        async for message in socket:
                            if message.type == aiohttp.WSMsgType.BINARY and message.data:
                                return bytes(message.data)
                    return b""
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    origin = web.base
    # DNS rebinding: a page of rebind.example, its name now resolving to
    # 127.0.0.1, has a matching Origin; it names itself in Host.
    rebound = "rebind.example:" + web.base.rsplit(":", 1)[1]
    rebinding = {"Cookie": cookie, "Origin": f"http://{rebound}", "Host": rebound}
    assert asyncio.run(attempt(rebinding)) == 403
    assert httpx.get(web.base + "/", cookies=session, headers={"Host": rebound}).status_code == 403
    assert asyncio.run(attempt({"Origin": origin})) == 403  # no cookie
    assert asyncio.run(attempt({"Cookie": cookie})) == 403  # no Origin
    assert asyncio.run(attempt({"Cookie": cookie, "Origin": "http://evil.example"})) == 403
    drawn = asyncio.run(attempt({"Cookie": cookie, "Origin": origin}))
    assert isinstance(drawn, bytes) and drawn
    # The browser left: its chat app is stopped, not left running.
    assert web.proc is not None
    server = psutil.Process(web.proc.pid)
    deadline = time.monotonic() + 15
    while server.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.children()


@pytest.mark.slow
def test_chat_apps_end_with_a_killed_server(tmp_path: Path, module_llm: FakeLLM) -> None:
    """SIGKILL leaves no chat app running on, orphaned (the app ignores its stdin closing)."""
    config = module_llm.write_formation(tmp_path)
    with WebProcess(tmp_path, "--config", str(config)) as proc:
        cookies = httpx.get(proc.link, follow_redirects=False).cookies
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())

        async def kill_while_open() -> list[psutil.Process]:
            async with aiohttp.ClientSession() as client:
                url = proc.base.replace("http", "ws") + "/ws"
                headers = {"Cookie": cookie, "Origin": proc.base}
                async with client.ws_connect(url, headers=headers) as socket:
                    async with asyncio.timeout(60):
                        await socket.receive()  # the chat app runs
                    assert proc.proc is not None
                    apps = psutil.Process(proc.proc.pid).children()
                    proc.proc.kill()
                    proc.proc.wait(10)
                    return apps

        apps = asyncio.run(kill_while_open())
        assert apps
        try:
            _gone, alive = psutil.wait_procs(apps, timeout=10)
            assert not alive
        finally:
            for app in apps:  # the test leaves none behind, whatever happened
                with contextlib.suppress(psutil.NoSuchProcess):
                    app.kill()


#: Makes the web part look uninstalled in a child process: imports of its
#: packages fail as they would without them.
_HIDE_WEB = """
import sys

class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("textual_serve", "aiohttp"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Hide())
"""


def test_missing_web_part_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(_HIDE_WEB, encoding="utf-8")
    env = server_env(tmp_path / "home")
    env["PYTHONPATH"] = os.pathsep.join((str(tmp_path), env["PYTHONPATH"]))
    done = subprocess.run(
        [sys.executable, "-m", "muxi_cli", "web", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'muxi-cli[web]'" in done.stderr and "Traceback" not in done.stderr
