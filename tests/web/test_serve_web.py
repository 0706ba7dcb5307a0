"""``muxi serve --web``: the chat app under /web/, opened with an admin key typed into a form."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import psutil
import pytest

from tests.fakellm import FakeLLM
from tests.server.serveproc import ServeProcess

KEY_RE = re.compile(r"muxi_[0-9a-f]{10}_[A-Za-z0-9_-]{43}")
_ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_llm: FakeLLM) -> Iterator[ServeProcess]:
    home = tmp_path_factory.mktemp("serve-web")
    config = module_llm.write_formation(home)
    with ServeProcess(home / "home", config, args=("--web",)) as proc:
        yield proc


def sign_in(server: ServeProcess, key: str, origin: str | None = None) -> httpx.Response:
    headers = {"origin": origin or server.url}
    return httpx.post(
        server.url + "/web/login", data={"key": key}, headers=headers, follow_redirects=False
    )


def test_only_an_admin_key_opens_a_session(server: ServeProcess) -> None:
    admin, user = KEY_RE.findall(server.log())
    assert "/web/ (sign in with an admin key)" in server.log()
    form = httpx.get(server.url + "/web/")
    assert form.status_code == 200 and 'action="/web/login"' in form.text
    assert "textual.js" not in form.text  # no chat app without a session

    assert sign_in(server, admin, origin="http://evil.example").status_code == 403  # login CSRF
    wrong = sign_in(server, "muxi_0000000000_" + "x" * 43)
    assert wrong.status_code == 401 and "not valid" in wrong.text and "x" * 43 not in wrong.text
    as_user = sign_in(server, user)
    assert as_user.status_code == 403 and "only admin keys" in as_user.text

    opened = sign_in(server, admin)
    assert opened.status_code == 303 and opened.headers["location"] == "/web/"
    cookie = opened.headers["set-cookie"]
    assert "Path=/web" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert admin not in cookie
    page = httpx.get(server.url + "/web/", cookies=opened.cookies)
    assert page.status_code == 200 and "/web/static/js/textual.js" in page.text
    assert f'data-session-websocket-url="ws://127.0.0.1:{server.port}/web/ws"' in page.text
    assert httpx.get(server.url + "/web/static/js/textual.js").status_code == 200
    assert admin not in server.log().split("shown only once", 1)[-1].split("muxi serve:", 1)[1]


def test_the_chat_app_runs_against_this_server(server: ServeProcess) -> None:
    admin, _user = KEY_RE.findall(server.log())
    opened = sign_in(server, admin)
    cookie = "; ".join(f"{k}={v}" for k, v in opened.cookies.items())
    ws_url = server.url.replace("http", "ws") + "/web/ws?width=120&height=30"

    async def attempt(headers: dict[str, str], until: str = "") -> int | str:
        async with aiohttp.ClientSession() as client:
            try:
                async with client.ws_connect(ws_url, headers=headers) as socket:
                    drawn = ""
                    async with asyncio.timeout(60):
                        async for message in socket:
                            if message.type == aiohttp.WSMsgType.BINARY:
                                drawn += _ESCAPES.sub("", message.data.decode("utf-8", "replace"))
                                if until in drawn:
                                    return drawn
                    return drawn
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(attempt({"Origin": server.url})) == 403  # no session
    assert asyncio.run(attempt({"Cookie": cookie, "Origin": "http://evil.example"})) == 403
    # The status bar names the connection: this server's URL (MUXI_URL in the child).
    drawn = asyncio.run(attempt({"Cookie": cookie, "Origin": server.url}, until="fake-model"))
    assert isinstance(drawn, str) and "openai/fake-model" in drawn, drawn
    assert server.url.split("//", 1)[1] in drawn, drawn
    # The browser left: its chat app stops, and quietly (no traceback in the log).
    assert server.proc is not None
    _gone, alive = psutil.wait_procs(psutil.Process(server.proc.pid).children(), timeout=15)
    assert not alive and "Traceback" not in server.log()


@pytest.mark.slow
def test_a_revoked_key_ends_its_session_and_its_chat_apps(server: ServeProcess) -> None:
    """The chat app can start programs on this machine (/mcp inspect) without
    asking the server: it must not outlive its key."""
    admin, _user = KEY_RE.findall(server.log())
    auth = {"authorization": f"Bearer {admin}"}
    made = httpx.post(
        server.url + "/v1/keys", json={"role": "admin", "user_id": "web-revoked"}, headers=auth
    )
    assert made.status_code == 201, made.text
    opened = sign_in(server, made.json()["key"])
    cookie = "; ".join(f"{k}={v}" for k, v in opened.cookies.items())
    ws_url = server.url.replace("http", "ws") + "/web/ws"
    serving = psutil.Process(server.proc.pid if server.proc else 0)

    async def revoke_while_open() -> tuple[list[psutil.Process], int | None]:
        async with aiohttp.ClientSession() as client:
            headers = {"Cookie": cookie, "Origin": server.url}
            async with client.ws_connect(ws_url, headers=headers) as socket:
                async with asyncio.timeout(60):
                    await socket.receive()  # the chat app runs
                apps = serving.children()
                revoke = f"{server.url}/v1/keys/{made.json()['id']}"
                async with client.delete(revoke, headers=auth) as gone:
                    assert gone.status == 200, await gone.text()
                async with asyncio.timeout(15):  # ws_key_check is 2 s
                    async for _message in socket:
                        pass
                return apps, socket.close_code

    apps, code = asyncio.run(revoke_while_open())
    assert apps and code == 1008
    _gone, alive = psutil.wait_procs(apps, timeout=10)
    assert not alive
    # The cookie opens nothing any more: the sign-in form again.
    page = httpx.get(server.url + "/web/", cookies=opened.cookies)
    assert page.status_code == 200 and 'action="/web/login"' in page.text


@pytest.mark.slow
def test_guessing_keys_through_the_form_is_throttled(tmp_path: Path, module_llm: FakeLLM) -> None:
    """Its own server: the throttle would refuse the other tests' sign-ins from 127.0.0.1."""
    home = tmp_path
    with ServeProcess(home / "home", module_llm.write_formation(home), args=("--web",)) as proc:
        form = proc.url + "/web/login"
        with httpx.Client(headers={"origin": proc.url}) as client:
            codes: list[int] = []
            while 429 not in codes and len(codes) < 100:
                guess = {"key": f"muxi_{len(codes):010d}_" + "x" * 43}
                answer = client.post(form, data=guess)
                codes.append(answer.status_code)
        assert codes[-1] == 429 and set(codes[:-1]) == {401}
        assert int(answer.headers["retry-after"]) >= 1 and "set-cookie" not in answer.headers
        assert "too many failed authentications" in answer.text
