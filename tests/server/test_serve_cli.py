"""`muxi serve` as a real process: first-start keys, shutdown, restarts, profiles."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from muxi_cli.protocol.events import Event
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from tests.fakellm import FakeLLM, Text
from tests.procs import stopping
from tests.server.serveproc import MUXI, ServeProcess, server_env

KEY_RE = re.compile(r"muxi_[0-9a-f]{10}_[A-Za-z0-9_-]{43}")


async def test_first_start_keys_shutdown_and_reconnect(fake_llm: FakeLLM, tmp_path: Path) -> None:
    home = tmp_path / "srv-home"
    config = fake_llm.write_formation(tmp_path)
    proc = ServeProcess(home, config).start()
    try:
        log = proc.log()
        keys = KEY_RE.findall(log)
        assert len(keys) == 2, log  # one admin key, one user key, printed once
        assert "shown only once" in log and f"muxi profile add NAME --url {proc.url}" in log
        key_file = home / "data" / "server_keys.json"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        stored = key_file.read_text()
        for key in keys:
            assert key not in stored and key.split("_", 2)[2] not in stored
        roles = sorted(k["role"] for k in json.loads(stored)["keys"])
        assert roles == ["admin", "user"]
        admin, user = keys

        notices: list[str] = []
        rt = RemoteRuntime(proc.url, user, label="srv", on_notice=notices.append)
        try:
            fake_llm.script(Text("first"), Text("second"))
            first = [
                e
                async for e in (
                    await rt.chat(ChatRequest(message="hi", approval="interactive"))
                ).events()
            ]
            assert first[-1].type == "run.completed" and first[-1].text == "first"
            me = await RemoteRuntime(proc.url, admin).whoami()
            assert me["role"] == "admin"

            # SIGTERM: graceful stop, exit status 0.
            assert proc.stop() == 0, proc.log()
            assert "muxi serve: stopped" in proc.log()

            # Second start: no new keys printed; the old ones still work.
            proc.start()
            assert not KEY_RE.findall(proc.log()), proc.log()
            second: list[Event] = [
                e
                async for e in (
                    await rt.chat(
                        ChatRequest(
                            message="again", approval="interactive", session_id=first[0].session_id
                        )
                    )
                ).events()
            ]
            assert second[-1].type == "run.completed" and second[-1].text == "second"
            assert any("reconnect" in n for n in notices), notices
            assert len(await rt.messages(first[0].session_id)) >= 4
        finally:
            await rt.aclose()
    finally:
        proc.stop()


def test_pinned_admin_key_from_the_environment(fake_llm: FakeLLM, tmp_path: Path) -> None:
    home = tmp_path / "pinned"
    config = fake_llm.write_formation(tmp_path)
    pinned = "pinned-admin-key-0123456789abcdef"
    proc = ServeProcess(home, config, MUXI_ADMIN_KEY=pinned).start()
    try:
        keys = KEY_RE.findall(proc.log())
        assert len(keys) == 1  # only the user key: the admin key is pinned
        r = httpx.get(proc.url + "/v1/me", headers={"authorization": f"Bearer {pinned}"})
        assert r.json() == {"key_id": "env", "role": "admin", "user_id": "admin", "scopes": ["*"]}
        assert pinned not in (home / "data" / "server_keys.json").read_text()
        r = httpx.get(proc.url + "/v1/keys", headers={"x-muxi-key": pinned})
        assert [k["role"] for k in r.json()] == ["user"]
    finally:
        assert proc.stop() == 0


@pytest.mark.parametrize("how", ["option", "env"])
def test_serve_refuses_a_remote_profile(tmp_path: Path, how: str) -> None:
    env = server_env(tmp_path / "h")
    args = [MUXI, "serve", "--port", "0"]
    if how == "option":
        args = [MUXI, "--profile", "prod", "serve", "--port", "0"]
    else:
        env["MUXI_PROFILE"] = "prod"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot use profile 'prod'" in done.stderr
    assert not (tmp_path / "h" / "data" / "server_keys.json").exists()


def test_keys_cli_against_a_running_server(fake_llm: FakeLLM, tmp_path: Path) -> None:
    home = tmp_path / "cli-home"
    config = fake_llm.write_formation(tmp_path)
    proc = ServeProcess(home, config).start()
    env = proc.env
    try:
        made = subprocess.run(
            [MUXI, "keys", "create", "--role", "user", "--user", "carol", "--label", "laptop"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip()
        assert KEY_RE.fullmatch(secret)
        assert "shown only this once" in made.stderr
        r = httpx.get(proc.url + "/v1/me", headers={"authorization": f"Bearer {secret}"})
        assert r.status_code == 200 and r.json()["user_id"] == "carol"
        key_id = r.json()["key_id"]

        listed = subprocess.run(
            [MUXI, "keys", "list", "--json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)["server_keys"]
        assert {"id": key_id, "role": "user", "user": "carol"}.items() <= next(
            r for r in rows if r["id"] == key_id
        ).items()
        assert secret not in listed.stdout

        revoked = subprocess.run(
            [MUXI, "keys", "revoke", key_id], env=env, capture_output=True, text=True, timeout=60
        )
        assert revoked.returncode == 0, revoked.stderr
        r = httpx.get(proc.url + "/v1/me", headers={"authorization": f"Bearer {secret}"})
        assert r.status_code == 401

        bad = subprocess.run(
            [MUXI, "keys", "create", "--role", "user"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2 and "--user" in bad.stderr
    finally:
        proc.stop()


def test_profile_cli_round_trip(fake_llm: FakeLLM, tmp_path: Path) -> None:
    home = tmp_path / "srv"
    config = fake_llm.write_formation(tmp_path)
    client = server_env(tmp_path / "client")

    def muxi(
        *args: str, stdin: str | None = None, env: dict[str, str] = client
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MUXI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
        )

    # Ready means the key panel is in the log (ServeProcess waits for the line after it);
    # the block stops the server whatever fails inside it.
    with ServeProcess(home, config) as proc:
        _admin, user = KEY_RE.findall(proc.log())
        added = muxi("profile", "add", "prod", "--url", proc.url + "/", stdin=user + "\n")
        assert added.returncode == 0, added.stderr
        assert "checked: user key" in added.stderr
        assert user not in added.stderr + added.stdout
        profiles_file = tmp_path / "client" / "config" / "profiles.yaml"
        assert stat.S_IMODE(profiles_file.stat().st_mode) == 0o600
        assert user not in profiles_file.read_text()

        listed = muxi("profile", "list", "--json")
        rows = {r["name"]: r for r in json.loads(listed.stdout)}
        assert rows["local"]["active"] and not rows["prod"]["active"]
        assert rows["prod"]["url"] == proc.url and rows["prod"]["key"] == "stored"

        shown = muxi("profile", "show", "prod")
        assert user not in shown.stdout and user[:4] in shown.stdout and "…" in shown.stdout

        tested = muxi("profile", "test", "prod")
        assert tested.returncode == 0 and "user key for user" in tested.stdout, tested.stderr

        assert muxi("profile", "use", "prod").returncode == 0
        rows = {r["name"]: r for r in json.loads(muxi("profile", "list", "--json").stdout)}
        assert rows["prod"]["active"]

        # A bad key and a dead URL give clear errors and exit codes.
        muxi("profile", "add", "bad", "--url", proc.url, "--no-check", stdin="muxi_0000000000_nope")
        failed = muxi("profile", "test", "bad")
        assert failed.returncode == 2 and "not valid" in failed.stderr
        muxi("profile", "add", "dead", "--url", "http://127.0.0.1:9", "--no-check", stdin="k")
        failed = muxi("profile", "test", "dead")
        assert failed.returncode == 1 and "cannot reach" in failed.stderr

        removed = muxi("profile", "remove", "prod")
        assert removed.returncode == 0 and "active profile is now local" in removed.stderr
        assert muxi("profile", "show", "prod").returncode == 2
        assert muxi("profile", "add", "local", "--url", proc.url, stdin="x").returncode == 2
        assert os.environ.get("MUXI_PROFILE") is None


def test_first_start_on_port_0_shows_the_real_port(tmp_path: Path) -> None:
    home = tmp_path / "home0"
    config = tmp_path / "muxi.yaml"
    config.write_text("agents: [{name: a}]\n")
    lines = []
    with stopping(
        subprocess.Popen(
            [MUXI, "serve", "--port", "0", "--config", str(config)],
            env=server_env(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ),
        timeout=30,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # bounded: the server prints "listening" once it is up
            lines.append(line)
            if "listening on" in line or len(lines) > 200:
                break
    log = "".join(lines)
    assert "listening on" in log, log
    assert "--url http://127.0.0.1:0" not in log
    assert re.search(r"--url http://127\.0\.0\.1:[1-9]\d*", log), log
