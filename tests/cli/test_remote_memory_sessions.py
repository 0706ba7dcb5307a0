"""Every ``muxi memory`` and ``muxi sessions`` subcommand through a profile.

One real ``muxi serve`` on loopback (module scope) with an admin and a user
key; the CLI runs in-process with profiles in the test's own ``MUXI_HOME``.
This machine's user id is ``localguy``, so a message naming it instead of the
server's user is caught.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.protocol.events import MemoryRecalled
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime import profiles
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.server.serveproc import ServeProcess

FORMATION_EXTRA = "memory:\n  embedding: hash\n"


class Served:
    def __init__(self, proc: ServeProcess, admin: str, alice: str) -> None:
        self.proc, self.admin, self.alice = proc, admin, alice


@pytest.fixture(scope="module")
def served(module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("remote-cli")
    home = root / "home"
    config = module_llm.write_formation(root, extra=FORMATION_EXTRA)
    keys = KeyStore(home / "data" / "server_keys.json")
    _, admin = keys.create("admin", "admin")
    _, alice = keys.create("user", "alice")
    proc = ServeProcess(home, config)
    try:
        proc.start()
        yield Served(proc, admin, alice)
    finally:
        proc.stop()


@pytest.fixture(autouse=True)
def _profiles(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_USER_ID", "localguy")
    monkeypatch.setenv("COLUMNS", "200")
    for name, key in (("adminp", served.admin), ("alicep", served.alice)):
        profiles.add_profile(name, served.proc.url)
        profiles.store_key(name, key)


def muxi(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def as_alice(*args: str) -> tuple[int, str, str]:
    return muxi("-P", "alicep", *args)


def as_admin(*args: str) -> tuple[int, str, str]:
    return muxi("-P", "adminp", *args)


def test_memory_commands_as_a_user_key(served: Served) -> None:
    code, out, err = as_alice("memory", "add", "Alice likes green tea")
    assert code == 0, err
    mid = out.strip()
    # The user the server stored it for, not this machine's user.
    assert "remembered for 'alice'" in err and "localguy" not in err

    code, out, err = as_alice("memory", "list", "--json")
    assert code == 0, err
    assert [(i["id"], i["user_id"]) for i in json.loads(out)] == [(mid, "alice")]
    code, out, err = as_alice("memory", "list")
    assert code == 0 and "Alice likes green tea" in out, err
    # --agent filters on the server (it used to ask for 10,000 rows: over the cap).
    code, out, err = as_alice("memory", "list", "--agent", "nobody")
    assert code == 0, err
    assert "No memories for 'alice' from agent 'nobody'" in err

    code, out, err = as_alice("memory", "search", "green tea", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["id"] == mid

    # show and forget by id and by prefix: they used to ask for limit=100000 (exit 2).
    code, out, err = as_alice("memory", "show", mid)
    assert code == 0, err
    assert "Alice likes green tea" in out and "user: alice" in out
    code, out, err = as_alice("memory", "show", mid[:8], "--json")
    assert code == 0 and json.loads(out)["id"] == mid, err
    # --replaces goes through the server, and show brings the versions back.
    code, out, err = as_alice("memory", "add", "Alice drinks coffee now", "--replaces", mid[:8])
    assert code == 0, err
    newer = out.strip()
    code, out, err = as_alice("memory", "show", newer, "--json")
    assert code == 0 and [v["id"] for v in json.loads(out)["replaced"]] == [mid], err
    code, out, err = as_alice("memory", "show", mid)
    assert code == 0 and f"replaced by (newest first):\n  {newer}" in out, out
    code, out, err = as_alice("memory", "forget", newer, "--yes")
    assert code == 0, err
    code, out, err = as_alice("memory", "show", mid)
    assert code == 2, out  # forgetting a memory forgets the versions it replaced
    code, out, err = as_alice("memory", "add", "Alice likes green tea")
    mid = out.strip()
    code, out, err = as_alice("memory", "forget", mid[:8], "--yes")
    assert code == 0, err
    assert f"forgot {mid} of 'alice'" in err
    code, out, err = as_alice("memory", "show", mid)
    assert code == 2 and "no memory" in err

    # A user key names only its own user: an error, not someone else's name in a message.
    for args in (
        ("memory", "list", "--user", "bob"),
        ("memory", "add", "x", "--user", "bob"),
        ("memory", "add", "x", "--shared"),
        ("memory", "search", "tea", "--user", "bob"),
        ("memory", "show", "abcdef12", "--user", "bob"),
    ):
        code, out, err = as_alice(*args)
        assert code == 2 and "acts as user 'alice' only" in err, (args, err)
        assert out == ""


@pytest.mark.parametrize(
    "args",
    [
        ("memory", "forget", "--all", "--user", "alice", "--yes"),
        ("memory", "export"),
        ("memory", "import", "-"),
        ("memory", "prune", "--dry-run"),
        ("memory", "stats"),
        ("memory", "reindex", "--yes"),
        ("memory", "optimize"),
        ("memory", "extraction"),
    ],
)
def test_local_only_memory_commands_say_so(args: tuple[str, ...]) -> None:
    code, out, err = as_alice(*args)
    assert code == 2, err
    assert "local profile only" in " ".join(err.split()) and "alicep" in err
    assert out == ""


def test_admin_names_users_and_manages_shared_knowledge(served: Served) -> None:
    code, out, err = as_admin(
        "memory", "add", "The office opens at nine", "--shared", "--kind", "knowledge"
    )
    assert code == 0, err
    shared = out.strip()
    assert "remembered for every user (shared knowledge)" in err

    code, out, err = as_admin("memory", "add", "Bob drinks coffee", "--user", "bob")
    assert code == 0 and "remembered for 'bob'" in err, err
    bobs = out.strip()
    code, out, err = as_admin("memory", "show", bobs[:8], "--user", "bob")
    assert code == 0 and "Bob drinks coffee" in out, err
    # Without --user an admin key acts as 'admin' (as in a chat), who has no such memory.
    code, _, err = as_admin("memory", "show", bobs)
    assert code == 2 and "no memory" in err
    code, out, err = as_admin("memory", "list", "--user", "*")
    assert code == 0 and "The office opens at nine" in out, err

    # Another user's memory is not found by a user key, by id or by prefix.
    for ref in (bobs, bobs[:8]):
        code, _, err = as_alice("memory", "show", ref)
        assert code == 2 and "no memory" in err
        code, _, err = as_alice("memory", "forget", ref, "--yes")
        assert code == 2 and "no memory" in err

    # Search covers what a chat turn recalls: alice's memories plus the shared knowledge.
    recalled = asyncio.run(_recalled(served, "when does the office open"))
    assert shared in recalled
    code, out, err = as_alice("memory", "search", "when does the office open", "--json")
    assert code == 0, err
    found = [i["id"] for i in json.loads(out)]
    assert found[: len(recalled)] == recalled
    code, out, err = as_alice("memory", "search", "when does the office open")
    assert code == 0 and "shared" in out and "The office opens at nine" in out, err
    assert "searched memories of 'alice' and shared knowledge" in err

    code, _, err = as_admin("memory", "forget", shared, "--user", "*", "--yes")
    assert code == 0 and "of every user (shared knowledge)" in err, err
    code, _, err = as_admin("memory", "forget", bobs, "--user", "bob", "--yes")
    assert code == 0, err


async def _recalled(served: Served, question: str) -> list[str]:
    """The ids a chat turn of alice's recalls (the ``memory.recalled`` event)."""
    runtime = RemoteRuntime(served.proc.url, served.alice, label="alicep")
    try:
        ids: list[str] = []
        async for event in (await runtime.chat(ChatRequest(message=question))).events():
            if isinstance(event, MemoryRecalled):
                ids = [str(item["id"]) for item in event.items]
        return ids
    finally:
        await runtime.aclose()


def test_session_commands_through_a_profile(served: Served, tmp_path: Path) -> None:
    async def chat() -> str:
        runtime = RemoteRuntime(served.proc.url, served.alice, label="alicep")
        try:
            sid = ""
            async for event in (
                await runtime.chat(ChatRequest(message="plan a picnic", title="Picnic"))
            ).events():
                sid = event.session_id or sid
            return sid
        finally:
            await runtime.aclose()

    sid = asyncio.run(chat())
    code, out, err = as_alice("sessions", "list")
    assert code == 0 and sid in out and "Picnic" in out, err
    code, out, err = as_alice("sessions", "list", "--json", "--search", "picnic")
    assert code == 0 and [s["id"] for s in json.loads(out)] == [sid], err
    code, out, err = as_alice("sessions", "show", sid[:8])
    assert code == 0 and "plan a picnic" in out and "user alice" in out, err
    code, out, err = as_alice("sessions", "export", sid, "--format", "json")
    assert code == 0 and json.loads(out)["session"]["id"] == sid, err
    target = tmp_path / "picnic.md"
    code, out, err = as_alice("sessions", "export", sid, "-o", str(target))
    assert code == 0 and "plan a picnic" in target.read_text(), err
    code, out, err = as_alice("sessions", "rename", sid, "Picnic in May")
    assert code == 0 and out.strip() == f"{sid}\tPicnic in May", err

    # A user key lists only its own sessions: --user for another user is an error.
    code, out, err = as_alice("sessions", "list", "--user", "bob")
    assert code == 2 and "acts as user 'alice' only" in err
    # An admin names the user.
    code, out, err = as_admin("sessions", "list", "--user", "alice", "--json")
    assert code == 0 and sid in [s["id"] for s in json.loads(out)], err

    code, out, err = as_alice("sessions", "delete", sid, "--yes")
    assert code == 0 and f"deleted {sid}" in err, err
    code, out, err = as_alice("sessions", "show", sid)
    assert code == 2 and "No session" in err


def test_shared_user_header_is_for_admin_memory_routes_only(served: Served) -> None:
    import httpx

    url = served.proc.url
    admin = {"authorization": f"Bearer {served.admin}", "x-muxi-user-id": "*"}
    chat = httpx.post(url + "/v1/chat", json={"message": "hi"}, headers=admin, timeout=30)
    assert chat.status_code == 400 and "shared knowledge" in chat.json()["error"]["message"]
    listed = httpx.get(url + "/v1/memory", headers=admin, timeout=30)
    assert listed.status_code == 200
    alice = {"authorization": f"Bearer {served.alice}", "x-muxi-user-id": "*"}
    assert httpx.get(url + "/v1/memory", headers=alice, timeout=30).status_code == 400


def test_config_show_says_it_is_this_machines_formation() -> None:
    code, out, err = as_alice("config", "show")
    assert code == 0 and "version" in out
    assert "this machine's formation; profile 'alicep' uses its server's" in " ".join(err.split())


def test_chat_as_another_user_needs_an_admin_key(module_llm: FakeLLM) -> None:
    code, out, err = as_alice("chat", "--user", "bob", "hello")
    assert code == 2 and "acts as user 'alice' only" in err, err
    assert out == ""
    code, out, err = as_admin("chat", "--user", "bob", "hello", "--output", "json")
    assert code == 0, err
    session = json.loads(out)["session_id"]
    code, out, err = as_admin("sessions", "list", "--user", "bob", "--json")
    assert session in [s["id"] for s in json.loads(out)]


def test_keys_list_with_a_user_key_still_shows_provider_keys() -> None:
    code, out, err = as_alice("keys", "list")
    assert code == 0, err
    assert "Provider keys" in out and "Server keys" not in out
    assert "server keys: not shown (this needs an admin key" in err
    code, out, err = as_admin("keys", "list", "--json")
    assert code == 0 and json.loads(out)["server_keys"], err
