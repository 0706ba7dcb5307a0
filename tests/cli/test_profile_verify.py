"""``muxi profile add`` verifies before saving; ``profile test`` words its answer right."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.runtime import profiles
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.net import free_port
from tests.server.serveproc import ServeProcess


def cli(*args: str, key: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), None if key is None else key + "\n")
    return result.exit_code, result.stdout, result.stderr


def saved_key(name: str) -> str | None:
    try:
        return profiles.profile_key(name)[0]
    except Exception:
        return None


def test_add_checks_the_key_before_saving(fake_llm: FakeLLM, tmp_path: Path) -> None:
    home = tmp_path / "served"
    keys = KeyStore(home / "data" / "server_keys.json")
    _, admin = keys.create("admin", "admin")
    _, alice = keys.create("user", "alice")
    proc = ServeProcess(home, fake_llm.write_formation(tmp_path))
    try:
        url = proc.start().url
        code, _, err = cli("profile", "add", "prod", "--url", url, key=admin)
        assert code == 0, err
        assert "checked: admin key for user admin" in err

        # A key the server rejects: exit 2, a clear warning, the working profile kept.
        bogus = "muxi_0000000000_" + "x" * 43
        code, out, err = cli("profile", "add", "prod", "--url", url, key=bogus)
        assert code == 2 and out == ""
        flat = " ".join(err.split())
        assert "profile 'prod' not saved" in flat and "not valid" in flat
        assert "--no-verify" in flat
        assert saved_key("prod") == admin

        # --no-verify saves it anyway, and says it was not checked.
        code, _, err = cli("profile", "add", "other", "--url", url, "--no-verify", key=bogus)
        assert code == 0 and "not checked" in err, err
        assert saved_key("other") == bogus

        # The article follows the role.
        code, out, err = cli("profile", "test", "prod")
        assert code == 0 and "is an admin key for user admin" in out, err
        code, _, err = cli("profile", "add", "mine", "--url", url, key=alice)
        assert code == 0, err
        code, out, err = cli("profile", "test", "mine")
        assert code == 0 and "is a user key for user alice" in out, err
    finally:
        proc.stop()


def test_an_unreachable_server_saves_nothing() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, out, err = cli("profile", "add", "gone", "--url", dead, key="muxi_k")
    assert code == 1 and out == ""
    flat = " ".join(err.split())
    assert "cannot reach" in flat and "not saved" in flat and "--no-verify" in flat
    assert "gone" not in [p.name for p in profiles.list_profiles()]
    code, _, err = cli("profile", "add", "gone", "--url", dead, "--no-check", key="muxi_k")
    assert code == 0, err
    assert "gone" in [p.name for p in profiles.list_profiles()]


def test_articles_follow_the_sound() -> None:
    from muxi_cli.errors import with_article

    assert [with_article(w) for w in ("admin", "user", "int", "list", "unknown", "str")] == [
        "an admin",
        "a user",
        "an int",
        "a list",
        "an unknown",
        "a str",
    ]
