"""OAuth to a remote MCP server, end to end, against tests/mcp_servers/oauth_server.py.

The authorization server approves at once, so the test plays the browser: it
reads the URL `muxi mcp login` prints, opens it (urllib follows the redirect
to muxi's loopback listener) and muxi finishes the flow. Then: calls with the
stored token, a refresh after the token expired, and a revoked grant that
asks for a new login.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.net import free_port, wait_listening
from tests.procs import run_muxi, stopping

SERVER = Path(__file__).resolve().parent.parent / "mcp_servers" / "oauth_server.py"


@contextlib.contextmanager
def oauth_server(*args: str) -> Iterator[str]:
    """The test authorization server + protected MCP server (``args``: its options),
    listening on a free port until the block ends; its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with stopping(proc):
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def oauth_base() -> Iterator[str]:
    with oauth_server() as base:
        yield base


@pytest.fixture
def formation(tmp_path: Path, oauth_base: str) -> Path:
    path = tmp_path / "muxi.yaml"
    path.write_text(
        f"mcp_servers:\n  secure:\n    url: {oauth_base}/mcp\n"
        "agents:\n  - name: helper\n    mcp_servers: [secure]\n"
    )
    return path


def _post(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=10)


def _stats(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/admin/stats", timeout=10) as resp:
        return dict(json.load(resp))


def _servers() -> dict[str, Any]:
    result = run_muxi("mcp", "list", "--json")
    assert result.returncode == 0, result.stderr
    return {s["name"]: s for s in json.loads(result.stdout)}


def login(user: str = "alice", *extra: str) -> subprocess.CompletedProcess[str]:
    """`muxi mcp login secure`, with this test as the browser (as ``user``)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "muxi_cli", "mcp", "login", "secure", "--no-browser", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    with stopping(proc):
        assert proc.stdout is not None
        url = ""
        while not url:
            line = proc.stdout.readline()
            assert line, (
                f"login ended before printing a URL: {proc.stderr.read() if proc.stderr else ''}"
            )
            if line.startswith("http"):
                url = line.strip()
        query = parse_qs(urlsplit(url).query)
        # PKCE S256, a dynamically registered client, a loopback redirect.
        assert query["code_challenge_method"] == ["S256"]
        assert query["client_id"][0].startswith(("client-", "muxi-hand"))
        assert query["redirect_uri"][0].startswith("http://127.0.0.1:")
        # Another local process calling the callback first does not spoil the login.
        spoiled = f"{query['redirect_uri'][0]}?code=forged&state=not-this-login"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(spoiled, timeout=10)
        assert refused.value.code == 400
        refused.value.close()
        with urllib.request.urlopen(f"{url}&user={user}", timeout=30) as page:
            assert b"signed in" in page.read()
        out, err = proc.communicate(timeout=60)
        return subprocess.CompletedProcess(proc.args, proc.returncode, url + "\n" + out, err)


def _backdate_tokens(home: Path) -> None:
    """Move the stored token's issue time back, as if its lifetime ran out here too."""
    path = home / "test-keyring.json"
    data = json.loads(path.read_text())
    for service in data.values():
        for key, raw in service.items():
            if key.startswith("mcp-oauth:"):
                record = json.loads(raw)
                record["obtained_at"] = time.time() - 10 * 86400
                service[key] = json.dumps(record)
    path.write_text(json.dumps(data))


def test_login_refresh_and_revoked_token(formation: Path, oauth_base: str, muxi_home: Path) -> None:
    before = _servers()["secure"]
    assert before["state"] == "failed"
    assert before["auth"] == "oauth: login required"
    assert "muxi mcp login secure" in before["error"]

    done = login()
    assert done.returncode == 0, done.stderr
    assert "Signed in to secure" in done.stderr
    assert _stats(oauth_base)["registrations"] == 1

    after = _servers()["secure"]
    assert (after["state"], after["auth"]) == ("ready", "oauth: signed in")
    table = run_muxi("mcp", "list")
    assert "AUTH" in table.stdout and "signed in" in table.stdout

    call = run_muxi("mcp", "call", "secure", "whoami")
    assert (call.returncode, call.stdout.strip()) == (0, "alice"), call.stderr
    assert _doctor_row() == ("ok", "oauth: signed in")

    # Expired: the access token no longer works at the server, and muxi knows its
    # lifetime ran out, so it refreshes before calling (no new login, no browser).
    _post(f"{oauth_base}/admin/expire")
    _backdate_tokens(muxi_home)
    assert _doctor_row() == ("info", "oauth: expired, will refresh")
    call = run_muxi("mcp", "call", "secure", "whoami")
    assert (call.returncode, call.stdout.strip()) == (0, "alice"), call.stderr
    assert _stats(oauth_base)["refreshes"] == 1
    call = run_muxi("mcp", "call", "secure", "echo", "--arg", "text=again")
    assert call.stdout.strip() == "again"
    assert _stats(oauth_base)["refreshes"] == 1  # the refreshed token was kept

    # Revoked (access and refresh): a clear "log in again", never a browser.
    _post(f"{oauth_base}/admin/revoke")
    call = run_muxi("mcp", "call", "secure", "whoami")
    assert call.returncode == 1
    assert "login required: run `muxi mcp login secure`" in call.stderr + call.stdout
    assert _servers()["secure"]["auth"] == "oauth: login required"

    # A new login works again, reusing the registration when the port allows.
    assert login("alice").returncode == 0
    assert run_muxi("mcp", "call", "secure", "whoami").stdout.strip() == "alice"

    out = run_muxi("mcp", "logout", "secure")
    assert out.returncode == 0 and "Signed out of secure" in out.stderr + out.stdout
    assert _servers()["secure"]["auth"] == "oauth: login required"
    assert _doctor_row()[1].startswith("oauth: not signed in")


def _doctor_row() -> tuple[str, str]:
    result = run_muxi("doctor", "--json")
    [row] = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "mcp secure login"]
    return row["status"], row["detail"]


def test_expired_token_with_revoked_refresh_asks_for_login(
    formation: Path, oauth_base: str, muxi_home: Path
) -> None:
    assert login().returncode == 0
    _post(f"{oauth_base}/admin/revoke")
    _backdate_tokens(muxi_home)
    call = run_muxi("mcp", "call", "secure", "whoami")
    assert call.returncode == 1
    assert "login required" in call.stderr + call.stdout
    assert _stats(oauth_base)["rejected"] >= 1


def test_fixed_authorization_header_turns_oauth_off(tmp_path: Path, oauth_base: str) -> None:
    (tmp_path / "muxi.yaml").write_text(
        f"mcp_servers:\n  secure:\n    url: {oauth_base}/mcp\n"
        "    headers: {Authorization: Bearer wrong}\n"
        "agents:\n  - name: helper\n    mcp_servers: [secure]\n"
    )
    server = _servers()["secure"]
    assert server["state"] == "failed" and server["auth"] is None
    out = run_muxi("mcp", "login", "secure")
    assert out.returncode == 2 and "switched off" in out.stderr


@pytest.mark.parametrize("client_auth", ["client_secret_post", "client_secret_basic"])
def test_hand_registered_client(tmp_path: Path, muxi_home: Path, client_auth: str) -> None:
    """`oauth.client_id` + `client_secret` + a fixed `redirect_port`: no dynamic registration.

    The secret goes the way the authorization server's metadata says it takes
    it (`token_endpoint_auth_methods_supported`), at login and at a refresh in
    a later process, which has not read that metadata yet.
    """
    redirect_port = free_port()
    redirect = f"http://127.0.0.1:{redirect_port}/callback"
    preset = ("--preset", "muxi-hand", "s3cret", redirect, "--client-auth", client_auth)
    with oauth_server(*preset) as base:
        (tmp_path / "muxi.yaml").write_text(
            f"mcp_servers:\n  secure:\n    url: {base}/mcp\n"
            "    oauth: {client_id: muxi-hand, client_secret: s3cret, "
            f"redirect_port: {redirect_port}}}\n"
            "agents:\n  - name: helper\n    mcp_servers: [secure]\n"
        )
        done = login("carol")
        assert done.returncode == 0, done.stderr
        assert f"redirect_uri={redirect.replace(':', '%3A').replace('/', '%2F')}" in done.stdout
        assert _stats(base)["registrations"] == 0
        call = run_muxi("mcp", "call", "secure", "whoami")
        assert call.stdout.strip() == "carol", call.stderr
        _post(f"{base}/admin/expire")
        _backdate_tokens(muxi_home)
        call = run_muxi("mcp", "call", "secure", "whoami")
        assert call.stdout.strip() == "carol", call.stderr
        assert _stats(base)["refreshes"] == 1


def test_paste_back_of_the_redirected_address(formation: Path, oauth_base: str) -> None:
    """The browser cannot reach this machine's loopback: the address it ended on is pasted."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "muxi_cli", "mcp", "login", "secure", "--no-browser", "--paste"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    with stopping(proc):
        assert proc.stdout is not None and proc.stdin is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http"), proc.stderr.read() if proc.stderr else ""
        # The authorization server answers with the redirect; the browser stops there.
        opener = urllib.request.build_opener(_NoRedirect())
        try:
            opener.open(url + "&user=dave", timeout=30)
            raise AssertionError("expected a redirect")
        except urllib.error.HTTPError as exc:
            landed = exc.headers["Location"]
        proc.stdin.write(landed + "\n")
        proc.stdin.flush()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    call = run_muxi("mcp", "call", "secure", "whoami")
    assert call.stdout.strip() == "dave", call.stderr


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_scope_step_up_asks_for_the_larger_scope(formation: Path, oauth_base: str) -> None:
    """A 403 insufficient_scope: the next login asks for the scope the server named."""
    assert login().returncode == 0
    assert run_muxi("mcp", "call", "secure", "whoami").stdout.strip() == "alice"
    _post(f"{oauth_base}/admin/require-scope?scope=mcp%3Awrite")
    call = run_muxi("mcp", "call", "secure", "whoami")
    assert call.returncode != 0 and "muxi mcp login secure" in call.stdout + call.stderr
    done = login()
    assert done.returncode == 0, done.stderr
    scope = parse_qs(urlsplit(done.stdout.splitlines()[0]).query)["scope"][0]
    assert set(scope.split()) == {"mcp", "mcp:write"}
    call = run_muxi("mcp", "call", "secure", "whoami")
    assert (call.returncode, call.stdout.strip()) == (0, "alice"), call.stderr
