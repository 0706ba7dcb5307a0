"""docker/entrypoint.sh in a plain venv, as the image's user (tests/container/support.py).

The quick cases run a command other than ``serve`` through the entrypoint and
look at the environment it was given; the slow one starts ``muxi serve``
through it and uses the keys for real against the fake model.
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.container.support import HEALTHCHECK, NODE_BIN, Container, image_uid_gid
from tests.fakellm import FakeLLM
from tests.procs import stopping

SHOW = 'printf "%s|%s|%s|%s" "$ANTHROPIC_API_KEY" "${OPENAI_API_KEY:-}" "${MUXI_ADMIN_KEY:-}" "${MUXI_ADMIN_KEY_FILE-unset}"'


@pytest.fixture
def box() -> Iterator[Container]:
    ctr = Container()
    try:
        yield ctr
    finally:
        ctr.remove()


def test_keys_come_from_env_secret_files_and_file_variables(box: Container) -> None:
    box.secret("anthropic_api_key", "sk-ant-from-secret\n")  # compose's lower-case name
    admin = box.secret("admin.key", "a" * 8)
    result = box.run("sh", "-c", SHOW, OPENAI_API_KEY="sk-from-env", MUXI_ADMIN_KEY_FILE=str(admin))
    assert result.returncode == 0, result.stderr
    # The trailing newline of the file is dropped; the *_FILE variable is gone.
    assert result.stdout == f"sk-ant-from-secret|sk-from-env|{'a' * 8}|unset"
    assert "ANTHROPIC_API_KEY read from" in result.stderr
    assert "sk-ant-from-secret" not in result.stderr, "values are never printed"
    # The data folder was made, private to the image's user.
    for name in ("config", "data", "cache"):
        mode = (box.data / name).stat().st_mode
        assert stat.S_IMODE(mode) == 0o700, name
        if box.as_user:
            assert (box.data / name).stat().st_uid == image_uid_gid()[0]


def test_env_beats_a_mounted_secret_and_extra_names_are_read(box: Container) -> None:
    box.secret("ANTHROPIC_API_KEY", "sk-ant-file")
    box.secret("GITHUB_TOKEN", "ghp-file")
    result = box.run(
        "sh",
        "-c",
        'printf "%s|%s" "$ANTHROPIC_API_KEY" "$GITHUB_TOKEN"',
        ANTHROPIC_API_KEY="sk-ant-env",
        MUXI_SECRET_VARS="GITHUB_TOKEN",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sk-ant-env|ghp-file"


@pytest.mark.parametrize(
    ("setup", "env", "message"),
    [
        ("both", {"OPENAI_API_KEY": "x"}, "both OPENAI_API_KEY and OPENAI_API_KEY_FILE are set"),
        ("empty", {}, "is empty"),
        ("none", {"MUXI_SECRET_VARS": "bad-name"}, "is not a variable name"),
        ("none", {"MUXI_CONFIG": "/nonexistent/muxi.yaml"}, "no formation at /nonexistent"),
    ],
)
def test_refusals_exit_2_with_the_reason(
    box: Container, setup: str, env: dict[str, str], message: str
) -> None:
    if setup == "both":
        env = {**env, "OPENAI_API_KEY_FILE": str(box.secret("k", "y"))}
    elif setup == "empty":
        box.secret("openai_api_key", "\n")
    args = ("serve",) if "MUXI_CONFIG" in env else ("true",)
    result = box.run(*args, **env)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_data_folder_the_user_cannot_write_is_refused_with_the_fix(box: Container) -> None:
    if box.as_user:
        os.chown(box.data, 0, 0)
        box.data.chmod(0o755)
    else:
        box.data.chmod(0o500)
    result = box.run("true")
    assert result.returncode == 2
    assert "is not writable by uid" in result.stderr and "chown -R" in result.stderr


@pytest.mark.slow
def test_serve_runs_uses_the_keys_and_stops_on_sigterm(box: Container, fake_llm: FakeLLM) -> None:
    """muxi serve through the entrypoint: /health and the healthcheck answer, the
    Anthropic key from a secret file and the OpenAI key from the environment reach
    the model, the pinned admin key from MUXI_ADMIN_KEY_FILE works, the preinstalled
    MCP servers start as the image's user, extra arguments pass through, and
    SIGTERM stops it cleanly."""
    box.secret("anthropic_api_key", "sk-ant-secret-file")
    admin_key = secrets.token_urlsafe(32)
    admin_file = box.secret("muxi_admin_key_file", admin_key)
    proc = box.start(
        "serve",
        "--max-body",
        "4096",
        OPENAI_API_KEY="sk-openai-env",
        MUXI_ADMIN_KEY_FILE=str(admin_file),
        ANTHROPIC_BASE_URL=fake_llm.anthropic_base_url,
        OPENAI_BASE_URL=fake_llm.openai_base_url,
    )
    with stopping(proc, timeout=30):
        box.wait_ready(proc)
        log = box.log()
        # The pinned admin key stands in for a generated one: only the user key is new.
        assert "user key (id" in log and "admin key (id" not in log
        assert admin_key not in log and "sk-ant-secret-file" not in log
        health = subprocess.run(
            [str(HEALTHCHECK)], env={**box.env(), "PATH": os.environ["PATH"]}, timeout=30
        )
        assert health.returncode == 0

        auth = {"Authorization": f"Bearer {admin_key}"}
        with httpx.Client(base_url=box.url, headers=auth, timeout=60) as client:
            first = client.post("/v1/chat", json={"message": "hi"}).json()
            assert first["status"] == "completed", first
            assert _key_sent(fake_llm.requests[-1]) == "sk-ant-secret-file"
            second = client.post(
                "/v1/chat", json={"message": "hi", "model": "openai/gpt-4o-mini"}
            ).json()
            assert second["status"] == "completed", second
            assert _key_sent(fake_llm.requests[-1]) == "sk-openai-env"
            big = client.post("/v1/chat", json={"message": "x" * 5000})
            assert big.status_code == 413, "--max-body 4096 passed through"

            states = _mcp_states(client)
        assert states["time"] == "ready" and states["fetch"] == "ready", states
        if NODE_BIN.is_dir():
            assert states["filesystem"] == "ready", states

        keys = box.data / "data" / "server_keys.json"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        if box.as_user:
            assert keys.stat().st_uid == image_uid_gid()[0]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert "muxi serve: stopped" in box.log()


def _key_sent(request: dict[str, Any]) -> str | None:
    """The API key a model request carried (x-api-key, or a bearer token)."""
    headers = request["headers"]
    auth = headers.get("authorization", "")
    return headers.get("x-api-key") or auth.removeprefix("Bearer ") or None


def _mcp_states(client: httpx.Client) -> dict[str, str]:
    """Server states once none is still starting (they start in the background; bounded)."""
    import time

    deadline = time.monotonic() + 60
    while True:
        rows = client.get("/v1/mcp/servers").json()
        states = {row["name"]: row["state"] for row in rows}
        if "starting" not in states.values() or time.monotonic() > deadline:
            return states
        time.sleep(0.2)
