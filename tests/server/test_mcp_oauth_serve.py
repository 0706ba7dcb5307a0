"""OAuth MCP servers on a real ``muxi serve``: a login per muxi user, through the
server's routes, and tool calls that use the calling user's own tokens."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.fakellm import Text, ToolCalls
from tests.security.support_server import Deployment, deployment
from tests.tools.test_mcp_oauth import oauth_base

__all__ = ["oauth_base"]


@pytest.fixture
def served(tmp_path: Path, oauth_base: str) -> Iterator[Deployment]:
    extra = (
        f"mcp_servers:\n  secure:\n    url: {oauth_base}/mcp\n    approval: allow\n"
        "agents:\n  - name: assistant\n    memory: {enabled: false}\n"
        "    mcp_servers: [secure]\n"
    )
    with deployment(tmp_path / "d", extra) as dep:
        yield dep


def _tool_results(request: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in request["messages"] if m.get("role") == "tool"]


def _login_state(dep: Deployment, key: str) -> dict[str, Any]:
    with dep.client() as c:
        r = c.get("/v1/mcp/servers/secure/login", headers=dep.headers(key))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_logins_and_tokens_are_per_user(served: Deployment) -> None:
    dep = served
    assert _login_state(dep, dep.alice)["auth"] == "oauth: not signed in"

    with dep.client() as c:
        started = c.post("/v1/mcp/servers/secure/login", headers=dep.headers(dep.alice))
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["redirect_uri"] == f"{dep.proc.url}/v1/mcp/oauth/callback"
    # The test is alice's browser: the authorization server approves and sends it
    # back to muxi's callback route, which finishes the login.
    page = _browse(body["authorization_url"] + "&user=alice", user_id=_user_of(dep, dep.alice))
    assert page.status_code == 200 and "signed in to secure" in page.text

    assert _login_state(dep, dep.alice)["auth"] == "oauth: signed in"
    assert _login_state(dep, dep.bob)["auth"] == "oauth: not signed in"
    with dep.client() as c:
        listed = c.get("/v1/mcp/servers", headers=dep.headers(dep.bob)).json()
    assert [s["auth"] for s in listed if s["name"] == "secure"] == ["oauth: not signed in"]

    # alice's call runs with alice's tokens.
    dep.llm.script(ToolCalls([("secure__whoami", {})]), Text("done"))
    with dep.client() as c:
        r = c.post("/v1/chat", json={"message": "who?"}, headers=dep.headers(dep.alice))
    assert r.status_code == 200, r.text
    assert _tool_results(dep.llm.requests[-1]) == ["alice"]

    # bob's call never borrows alice's login: his own connection asks him to sign in.
    dep.llm.script(ToolCalls([("secure__whoami", {})]), Text("done"))
    with dep.client() as c:
        r = c.post("/v1/chat", json={"message": "who?"}, headers=dep.headers(dep.bob))
    assert r.status_code == 200, r.text
    [result] = _tool_results(dep.llm.requests[-1])
    assert "login required" in result and "alice" not in result

    # Resources too: each user reads with their own tokens.
    with dep.client() as c:
        params = {"server": "secure", "uri": "oauth://whoami/me"}
        mine = c.get("/v1/mcp/resources/read", params=params, headers=dep.headers(dep.alice))
        assert mine.status_code == 200, mine.text
        assert mine.json()["text"] == "alice"
        theirs = c.get("/v1/mcp/resources/read", params=params, headers=dep.headers(dep.bob))
        assert theirs.status_code == 502 and "login required" in theirs.text, theirs.text

    # The tokens are stored per user (in the server's keyring).
    stored = json.loads((dep.proc.home / "test-keyring.json").read_text())
    names = [n for service in stored.values() for n in service if n.startswith("mcp-oauth:")]
    assert names == [f"mcp-oauth:secure@user:{_user_of(dep, dep.alice)}"]

    with dep.client() as c:
        gone = c.delete("/v1/mcp/servers/secure/login", headers=dep.headers(dep.alice))
    assert gone.json()["removed"] is True
    assert _login_state(dep, dep.alice)["auth"] == "oauth: not signed in"


def test_paste_back_must_come_from_the_same_user(served: Deployment) -> None:
    dep = served
    with dep.client() as c:
        url = c.post("/v1/mcp/servers/secure/login", headers=dep.headers(dep.alice)).json()[
            "authorization_url"
        ]
    # The browser ends on the callback address but cannot reach it: read it instead.
    redirect = httpx.get(url, follow_redirects=False, timeout=30).headers["location"]
    with dep.client() as c:
        stolen = c.post(
            "/v1/mcp/servers/secure/login/complete",
            json={"redirect": redirect},
            headers=dep.headers(dep.bob),
        )
        assert stolen.status_code == 400, stolen.text
        done = c.post(
            "/v1/mcp/servers/secure/login/complete",
            json={"redirect": redirect},
            headers=dep.headers(dep.alice),
        )
    assert done.status_code == 200, done.text
    assert done.json()["login"] == "signed in"
    assert _login_state(dep, dep.bob)["auth"] == "oauth: not signed in"


def _browse(url: str, user_id: str) -> httpx.Response:
    """A browser: authorize, land on muxi's callback, read whose login it is, press Continue."""
    page = httpx.get(url, follow_redirects=True, timeout=60)
    assert page.status_code == 200, page.text
    assert f"muxi user <b>{user_id}</b>" in page.text and "Continue" in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    form = dict(re.findall(r'name="?([a-z]+)"? value="?([^">]*)"?', page.text))
    assert {"code", "state", "confirm"} <= set(form) <= {"code", "state", "iss", "confirm"}
    return httpx.get(str(page.url.copy_with(query=None)), params=form, timeout=60)


def test_a_login_link_opened_by_another_user_waits_for_them_to_continue(
    served: Deployment,
) -> None:
    """bob starts a login and sends alice the link: muxi's callback names bob and
    finishes nothing until alice presses Continue (her authorization server may
    skip its consent screen for a client she approved before)."""
    dep = served
    with dep.client() as c:
        url = c.post("/v1/mcp/servers/secure/login", headers=dep.headers(dep.bob)).json()[
            "authorization_url"
        ]
    page = httpx.get(url + "&user=alice", follow_redirects=True, timeout=60)
    assert page.status_code == 200
    assert f"muxi user <b>{_user_of(dep, dep.bob)}</b>" in page.text
    assert "If someone sent you this link, close this tab" in page.text
    state = _login_state(dep, dep.bob)
    assert (state["auth"], state["login"]) == ("oauth: not signed in", "pending")
    # A forged confirmation without the code the browser got changes nothing.
    forged = dict(parse_qsl(urlsplit(str(page.url)).query), code="forged", confirm="yes")
    bad = httpx.get(str(page.url.copy_with(query=None)), params=forged, timeout=60)
    assert bad.status_code == 400 and "did not succeed" in bad.text
    assert _login_state(dep, dep.bob)["auth"] == "oauth: not signed in"


def _user_of(dep: Deployment, key: str) -> str:
    with dep.client() as c:
        return str(c.get("/v1/me", headers=dep.headers(key)).json()["user_id"])


def test_cli_login_through_a_remote_profile(served: Deployment) -> None:
    """`muxi mcp login secure` with MUXI_URL + a user key: the server runs the flow."""
    import os
    import subprocess
    import sys

    from tests.procs import stopping

    dep = served
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MUXI_PROFILE")}
    env.update(MUXI_URL=dep.url, MUXI_API_KEY=dep.bob)
    proc = subprocess.Popen(
        [sys.executable, "-m", "muxi_cli", "mcp", "login", "secure", "--no-browser"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    with stopping(proc):
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http"), proc.stderr.read() if proc.stderr else ""
        page = _browse(url + "&user=bob", user_id=_user_of(dep, dep.bob))
        assert "signed in to secure" in page.text
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Signed in to secure on the server (oauth: signed in)" in err
    assert _login_state(dep, dep.bob)["auth"] == "oauth: signed in"
    assert _login_state(dep, dep.alice)["auth"] == "oauth: not signed in"

    out = subprocess.run(
        [sys.executable, "-m", "muxi_cli", "mcp", "logout", "secure"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0 and "Signed out of secure" in out.stderr + out.stdout
    assert _login_state(dep, dep.bob)["auth"] == "oauth: not signed in"


def test_a_head_of_the_login_callback_finishes_nothing(served: Deployment) -> None:
    """HEAD is answered like GET (server/head.py), but a link checker or
    prefetcher sending HEAD to the callback's Continue address signed the user
    in (or, with ``error=``, ended the login) without the user pressing anything."""
    dep = served
    with dep.client() as c:
        url = c.post("/v1/mcp/servers/secure/login", headers=dep.headers(dep.alice)).json()[
            "authorization_url"
        ]
    page = httpx.get(url + "&user=alice", follow_redirects=True, timeout=60)
    assert page.status_code == 200 and "Continue" in page.text
    form = dict(re.findall(r'name="?([a-z]+)"? value="?([^">]*)"?', page.text))
    callback = str(page.url.copy_with(query=None))
    for params in (form, {**form, "error": "access_denied"}):
        head = httpx.head(callback, params=params, timeout=60)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["cache-control"] == "no-store"
        state = _login_state(dep, dep.alice)
        assert (state["auth"], state["login"]) == ("oauth: not signed in", "pending"), params
    done = httpx.get(callback, params=form, timeout=60)  # the user presses Continue
    assert done.status_code == 200 and "signed in to secure" in done.text
    assert _login_state(dep, dep.alice)["auth"] == "oauth: signed in"
