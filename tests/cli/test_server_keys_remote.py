"""``muxi --profile NAME keys create|list|revoke`` act on that server's keys."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.runtime import profiles
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.server_keys import KeyStore
from tests.server.conftest import start_server, stop_server
from tests.server.fakeruntime import FakeRuntime


async def cli(*args: str) -> tuple[int, str, str]:
    # The server runs on this test's event loop; the CLI runs its own in a thread.
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_keys_commands_go_to_the_profiles_server(tmp_path: Path, muxi_home: Path) -> None:
    server_keys = KeyStore(tmp_path / "served" / "server_keys.json")
    _, admin = server_keys.create("admin", "admin")
    _, alice = server_keys.create("user", "alice")
    url, server, task = await start_server(FakeRuntime(), server_keys, ServerSettings(rate=0))
    try:
        profiles.add_profile("prod", url)
        profiles.store_key("prod", admin)
        profiles.add_profile("mine", url)
        profiles.store_key("mine", alice)

        code, out, err = await cli("--profile", "prod", "keys", "create", "--user", "dave")
        assert code == 0, err
        secret = out.strip()
        assert secret.startswith("muxi_") and url in err
        made = [r for r in server_keys.records() if r.user_id == "dave"]
        assert len(made) == 1 and made[0].active  # on the server, not in this machine's file
        assert not (muxi_home / "data" / "server_keys.json").exists()

        code, out, err = await cli("--profile", "prod", "keys", "list", "--json")
        assert code == 0, err
        listed = {row["user"]: row for row in json.loads(out)["server_keys"]}
        assert {"admin", "alice", "dave"} <= listed.keys()
        assert secret not in out and admin not in out

        code, _, err = await cli("--profile", "prod", "keys", "revoke", made[0].id)
        assert code == 0, err
        assert not next(r for r in server_keys.records() if r.user_id == "dave").active

        code, out, err = await cli("--profile", "mine", "keys", "create", "--user", "eve")
        assert code != 0 and out == ""
        assert "admin" in err
        assert not [r for r in server_keys.records() if r.user_id == "eve"]
    finally:
        await stop_server(server, task)


def test_local_keys_stay_in_this_machines_file(muxi_home: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--user", "zoe"])
    assert result.exit_code == 0, result.stderr
    assert "zoe" in (muxi_home / "data" / "server_keys.json").read_text()


async def test_scopes_go_to_the_profiles_server(tmp_path: Path, muxi_home: Path) -> None:
    server_keys = KeyStore(tmp_path / "served" / "server_keys.json")
    _, admin = server_keys.create("admin", "admin")
    url, server, task = await start_server(FakeRuntime(), server_keys, ServerSettings(rate=0))
    try:
        profiles.add_profile("prod", url)
        profiles.store_key("prod", admin)
        code, _, err = await cli(
            "--profile", "prod", "keys", "create", "--user", "dave", "--scope", "model:openai/*"
        )
        assert code == 0, err
        made = next(r for r in server_keys.records() if r.user_id == "dave")
        assert made.scopes == ["model:openai/*"]
        code, out, err = await cli("--profile", "prod", "keys", "list", "--json")
        listed = {row["user"]: row for row in json.loads(out)["server_keys"]}
        assert listed["dave"]["scopes"] == "model:openai/*"
        # The server validates (the client has no formation to check against): a 400, exit 2.
        code, out, err = await cli(
            "--profile", "prod", "keys", "create", "--user", "eve", "--scope", "root"
        )
        assert code == 2 and out == "" and "unknown scope 'root'" in err
    finally:
        await stop_server(server, task)
