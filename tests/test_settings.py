"""settings.json has one reader and one writer (muxi_cli/settings.py), used by
the chat app (its theme) and the tool layer (always-allowed tools)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from muxi_cli import paths, settings
from muxi_cli.tools.policy import load_always_allow, save_always_allow


def test_update_keeps_other_keys_and_survives_a_broken_file() -> None:
    paths.write_private(
        paths.settings_path(), json.dumps({"always_allow": ["demo/add"], "x": {"y": 1}})
    )
    settings.update({"theme": "dracula"})
    assert settings.load() == {"always_allow": ["demo/add"], "x": {"y": 1}, "theme": "dracula"}
    paths.settings_path().write_text("{broken")
    assert settings.load() == {}
    settings.update({"theme": "nord"})  # an unreadable file is replaced, not a crash
    assert settings.get("theme") == "nord"
    paths.settings_path().write_text("[1, 2]")  # valid JSON, but not an object
    assert settings.load() == {}


def test_both_callers_share_the_file(tmp_path: Path) -> None:
    path = paths.settings_path()
    settings.update({"theme": "nord", "future_key": [1, "two"]})
    save_always_allow("fs/read")
    settings.update(lambda data: data.update(theme="dracula"))
    save_always_allow("web/get")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {
        "always_allow": ["fs/read", "web/get"],
        "future_key": [1, "two"],
        "theme": "dracula",
    }
    assert load_always_allow() == {"fs/read", "web/get"}
    assert path.stat().st_mode & 0o777 == 0o600
    # The write is atomic: no temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_an_explicit_file_is_used_instead_of_the_default(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "settings.json"
    save_always_allow("fs/read", other)
    assert json.loads(other.read_text()) == {"always_allow": ["fs/read"]}
    assert not paths.settings_path().exists()


def test_writers_in_several_processes_lose_no_change() -> None:
    """Each process adds its own keys many times; the file lock keeps every one."""
    code = (
        "import sys\n"
        "from muxi_cli import settings\n"
        "n = sys.argv[1]\n"
        "for i in range(25):\n"
        "    settings.update(lambda d: d.update({f'p{n}_{i}': i}))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(4)]
    try:
        assert [p.wait(timeout=60) for p in procs] == [0] * 4
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    data = settings.load()
    assert len(data) == 100 and data["p3_24"] == 24


def test_a_private_file_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    """In a folder others can write to, a symlink planted where the temporary
    file used to be (its name was guessable: pid-based) must not be followed."""
    import os

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "shared" / "map.html"
    target.parent.mkdir()
    (target.parent / f".map.html.{os.getpid()}.tmp").symlink_to(victim)
    paths.write_private(target, "<html>map</html>")
    assert victim.read_text() == "keep me"
    assert target.read_text() == "<html>map</html>"
    assert target.stat().st_mode & 0o777 == 0o600
