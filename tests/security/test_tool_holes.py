"""Issue 13 holes 4, 5, 9 and 11 replayed against a real ``muxi serve`` on loopback.

Hole 4: a user key asked the agent to ``read_file`` the server's ``muxi.yaml``
(with a provider ``api_key``), ``.env`` and ``server_keys.json``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.procs import run_muxi as muxi
from tests.server.serveproc import ServeProcess

KEY_RE = re.compile(r"muxi_[0-9a-f]{10}_[A-Za-z0-9_-]{43}")
PROVIDER_KEY = "sk-fake"  # the api_key fake_llm writes into muxi.yaml
DOTENV_SECRET = "DB_PASSWORD=dotenv-secret-4711"


class Server:
    def __init__(self, proc: ServeProcess, admin: str, user: str, folder: Path) -> None:
        self.proc, self.admin, self.user, self.folder = proc, admin, user, folder

    async def turn(self, key: str, message: str = "go") -> list[Any]:
        rt = RemoteRuntime(self.proc.url, key, label="attack")
        try:
            return [
                e
                async for e in (
                    await rt.chat(ChatRequest(message=message, approval="yes"))
                ).events()
            ]
        finally:
            await rt.aclose()


def first_start_keys(proc: ServeProcess, timeout: float = 10.0) -> tuple[str, str]:
    """The admin and user keys printed on first start (the log may lag /health)."""
    deadline = time.monotonic() + timeout
    while True:
        keys = KEY_RE.findall(proc.log())
        if len(keys) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(keys) == 2, proc.log()
    return keys[0], keys[1]


def file_formation(fake_llm: FakeLLM, folder: Path, user_keys: str | None) -> Path:
    files = f"files:\n  user_keys: {user_keys}\n" if user_keys else ""
    extra = (
        "agents:\n  - name: assistant\n    tools: [read_file, list_dir]\n    memory: {long_term: false}\n"
        "approval:\n  default: allow\n" + files
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".env").write_text(DOTENV_SECRET + "\n")
    (folder / ".env.production").write_text(DOTENV_SECRET + "\n")
    (folder / "notes.txt").write_text("public notes\n")
    (folder / "innocent.txt").symlink_to(folder / ".env")
    (folder / "cfg-link.txt").symlink_to(folder / "muxi.yaml")
    return fake_llm.write_formation(folder, extra=extra)


@pytest.fixture
def serve_files(
    fake_llm: FakeLLM, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Server]:
    folder = tmp_path / "formation"
    config = file_formation(fake_llm, folder, request.param)
    # MUXI_HOME inside the formation folder: the data dir (keys, sessions,
    # memory) is then inside the default root too.
    proc = ServeProcess(folder / "muxi-home", config).start()
    try:
        admin, user = first_start_keys(proc)
        yield Server(proc, admin, user, folder)
    finally:
        proc.stop()


ATTACK_PATHS = [
    "muxi.yaml",
    "MUXI.YAML",
    "./docs/../muxi.yaml",
    ".env",
    ".ENV",
    ".env.production",
    "innocent.txt",  # a symlink to .env
    "cfg-link.txt",  # a symlink to muxi.yaml
    "muxi-home/data/server_keys.json",
    "muxi-home/data/sessions.db",
]


def tool_results(events: list[Any]) -> list[str]:
    """Result texts in the order the calls were requested (they may finish in any order)."""
    order = [e.call_id for e in events if e.type == "tool.requested"]
    done = {e.call_id: str(e.content) for e in events if e.type == "tool.result"}
    return [done[call_id] for call_id in order if call_id in done]


@pytest.mark.parametrize("serve_files", ["shared"], indirect=True)
async def test_file_tools_never_serve_secrets(serve_files: Server, fake_llm: FakeLLM) -> None:
    calls = [("read_file", {"path": p}) for p in ATTACK_PATHS] + [
        ("list_dir", {"path": "."}),
        ("list_dir", {"path": "muxi-home/data"}),
        ("read_file", {"path": "notes.txt"}),
    ]
    for key in (serve_files.user, serve_files.admin):
        fake_llm.script(ToolCalls(calls), Text("done"))
        events = await serve_files.turn(key)
        results = tool_results(events)
        assert len(results) == len(calls), events
        for path, content in zip(ATTACK_PATHS, results, strict=False):
            assert content.startswith("access denied"), (path, content)
        listing, data_listing, notes = results[len(ATTACK_PATHS) :]
        assert "notes.txt" in listing
        for hidden in (".env", "muxi.yaml", "muxi-home", "innocent.txt"):
            assert hidden not in listing.split(), listing
        assert data_listing.startswith("access denied")
        assert notes == "public notes\n"
        # Nothing secret went to the model either.
        sent = str(fake_llm.last_request["messages"])
        assert PROVIDER_KEY not in sent and "dotenv-secret" not in sent


@pytest.mark.parametrize("serve_files", [None], indirect=True)
async def test_file_tools_are_off_for_user_keys_by_default(
    serve_files: Server, fake_llm: FakeLLM
) -> None:
    fake_llm.script(ToolCalls([("read_file", {"path": "notes.txt"})]), Text("done"))
    (result,) = tool_results(await serve_files.turn(serve_files.user))
    assert result.startswith("access denied") and "files.user_keys" in result
    # An admin key is the server's owner: its turns keep the roots.
    fake_llm.script(ToolCalls([("read_file", {"path": "notes.txt"})]), Text("done"))
    (result,) = tool_results(await serve_files.turn(serve_files.admin))
    assert result == "public notes\n"


@pytest.mark.parametrize("serve_files", ["per_user"], indirect=True)
async def test_per_user_roots(serve_files: Server, fake_llm: FakeLLM) -> None:
    users = serve_files.folder / "users"
    fake_llm.script(ToolCalls([("list_dir", {"path": "."})]), Text("done"))
    events = await serve_files.turn(serve_files.user)
    user_id = next(e.user_id for e in events if e.type == "run.started")
    (result,) = tool_results(events)
    assert result.endswith("is not a folder")  # nothing made for this user yet
    (users / user_id).mkdir(parents=True)
    (users / user_id / "mine.txt").write_text("my file\n")
    (users / "someone-else").mkdir()
    (users / "someone-else" / "theirs.txt").write_text("not yours\n")
    fake_llm.script(
        ToolCalls(
            [
                ("read_file", {"path": "mine.txt"}),
                ("read_file", {"path": "../someone-else/theirs.txt"}),
                ("read_file", {"path": "../../notes.txt"}),
            ]
        ),
        Text("done"),
    )
    mine, theirs, shared = tool_results(await serve_files.turn(serve_files.user))
    assert mine == "my file\n"
    assert theirs.startswith("access denied") and shared.startswith("access denied")


# -- hole 11: terminal escapes in model output -----------------------------------

#: A reply that writes the clipboard (OSC 52), sets the title (OSC 0, ended by
#: ST), clears the screen and colours text (CSI), uses an 8-bit CSI, a DCS, a
#: backspace and a bare CR to overwrite what was printed.
HOSTILE = (
    "Hello \x1b]52;c;ZXZpbA==\x07world \x1b]0;pwned\x1b\\title "
    "\x1b[2J\x1b[31mred\x1b[0m \x9b1;1H\x1bPq#0\x1b\\dcs fake\x08\x08\x08\x08real\rline\r\n"
)
CLEAN = "Hello world title red dcs fakereal" + "line\n"
CONTROL_BYTES = ("\x1b", "\x07", "\x9b", "\x08", "\r", "\x90")


@pytest.fixture
def hostile_formation(fake_llm: FakeLLM, tmp_path: Path) -> Path:
    extra = (
        "agents:\n  - name: assistant\n    tools: [calculator]\n    memory: {long_term: false}\n"
    )
    fake_llm.write_formation(tmp_path, extra=extra)
    return tmp_path


def test_chat_strips_escape_sequences_from_model_text(
    fake_llm: FakeLLM, hostile_formation: Path
) -> None:
    # Streamed in 7 pieces: sequences are cut between text deltas.
    fake_llm.script(
        ToolCalls([("calculator", {"expression": "1+1 \x1b]0;args\x07\x1b[2J"})]),
        Text(HOSTILE, chunks=7),
    )
    done = muxi("chat", "hi", "--yes", cwd=hostile_formation)
    assert done.returncode == 0, done.stderr
    assert done.stdout == CLEAN
    for byte in CONTROL_BYTES:
        assert byte not in done.stdout and byte not in done.stderr, repr(byte)
    assert "calculator" in done.stderr  # the tool line is still shown, cleaned

    # Not streamed: the same.
    fake_llm.script(Text(HOSTILE))
    done = muxi("chat", "hi", "--no-stream", cwd=hostile_formation)
    assert done.stdout == CLEAN

    # --raw keeps the bytes as they are.
    fake_llm.script(Text(HOSTILE, chunks=7))
    done = muxi("chat", "hi", "--raw", cwd=hostile_formation)
    assert "\x1b]52;c;ZXZpbA==\x07" in done.stdout and "\x1b[2J" in done.stdout


def test_json_output_escapes_c1_controls(fake_llm: FakeLLM, hostile_formation: Path) -> None:
    import json

    fake_llm.script(Text(HOSTILE))
    done = muxi("chat", "hi", "--output", "json", cwd=hostile_formation)
    assert done.returncode == 0, done.stderr
    for byte in CONTROL_BYTES:
        assert byte not in done.stdout, repr(byte)
    data = json.loads(done.stdout)
    assert data["reply"] == HOSTILE  # the data is whole; only its encoding is safe

    fake_llm.script(Text(HOSTILE, chunks=3))
    done = muxi("chat", "hi", "--output", "jsonl", cwd=hostile_formation)
    for byte in CONTROL_BYTES:
        assert byte not in done.stdout, repr(byte)

    # The stored conversation, shown again, is clean too.
    shown = muxi("sessions", "show", data["session_id"], cwd=hostile_formation)
    assert shown.returncode == 0, shown.stderr
    for byte in CONTROL_BYTES:
        assert byte not in shown.stdout, repr(byte)
    assert "Hello world" in shown.stdout


# -- hole 9: secrets in MCP stderr tails, logs and the API -------------------------

LEAKS = Path(__file__).resolve().parents[1] / "mcp_servers" / "leaks_at_start.py"
SERVICE_TOKEN = "custom/secret value+42"  # URL-encodes to custom%2Fsecret%20value%2B42
SECRETS = (
    "ghp_0123456789abcdefghijklmnopqrstuvwxyz01",
    "DbPass-7731",
    "cli-key-98765",
    SERVICE_TOKEN,
    "custom%2Fsecret",
    "custom/sec",
)


def test_mcp_stderr_tail_is_redacted_in_the_api_and_the_log(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    import sys

    import httpx

    extra = (
        "mcp_servers:\n  leaky:\n"
        f"    command: {sys.executable}\n"
        f"    args: [{str(LEAKS)!r}, --api-key, cli-key-98765, --verbose]\n"
        f"    env: {{SERVICE_TOKEN: {SERVICE_TOKEN!r}}}\n"
        "agents:\n  - name: assistant\n    mcp_servers: [leaky]\n"
    )
    config = fake_llm.write_formation(tmp_path, extra=extra)
    proc = ServeProcess(tmp_path / "home", config).start()
    try:
        admin, user = first_start_keys(proc)
        deadline = time.monotonic() + 30
        bodies: dict[str, str] = {}
        while time.monotonic() < deadline:
            for name, key in (("admin", admin), ("user", user)):
                r = httpx.get(
                    proc.url + "/v1/mcp/servers", headers={"authorization": f"Bearer {key}"}
                )
                assert r.status_code == 200, r.text
                bodies[name] = r.text
            if '"failed"' in bodies["admin"]:
                break
            time.sleep(0.1)
        assert '"failed"' in bodies["admin"], bodies
        assert "[redacted]" in bodies["admin"]  # the tail is there, its secrets are not
        for body in (*bodies.values(), proc.log()):
            for secret in SECRETS:
                assert secret not in body, (secret, body)
    finally:
        proc.stop()
