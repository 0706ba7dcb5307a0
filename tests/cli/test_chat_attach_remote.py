"""`muxi --profile prod chat --attach x.png` against a real `muxi serve` on loopback:
the file is uploaded (`POST /v1/media`), the turn names it by id, and the
session's files come back through the server for `sessions export`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from muxi_cli.runtime import profiles
from muxi_cli.stores.server_keys import KeyStore
from tests.cli.test_chat_attach import VISION_MODEL, png, stored_media
from tests.fakellm import FakeLLM, Text
from tests.procs import run_muxi as muxi
from tests.server.serveproc import ServeProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(
    module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, str]]:
    root = tmp_path_factory.mktemp("remote-attach")
    home = root / "home"
    config = module_llm.write_formation(root, model=VISION_MODEL)
    _, key = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    proc = ServeProcess(home, config)
    try:
        proc.start()
        yield proc, key
    finally:
        proc.stop()


@pytest.fixture
def prod(
    served: tuple[ServeProcess, str], module_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> ServeProcess:
    proc, key = served
    module_llm.reset()
    profiles.add_profile("prod", proc.url)
    monkeypatch.setenv("MUXI_API_KEY", key)  # the muxi subprocess's key for the profile
    return proc


def test_attach_through_a_profile_uploads_the_file(
    prod: ServeProcess, module_llm: FakeLLM, muxi_home: Path, tmp_path: Path
) -> None:
    shot = png(tmp_path / "x.png", (24, 12))
    module_llm.script(Text("a small red picture"))
    result = muxi("--profile", "prod", "chat", "what is this?", "--attach", str(shot), "-o", "json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["reply"] == "a small red picture"
    [processed] = out["media"]
    assert processed["name"] == "x.png" and processed["media_type"] == "image/png"
    assert processed["meta"]["width"] == 24 and processed["meta"]["height"] == 12
    assert stored_media(muxi_home) == []  # stored on the server, not on this machine

    export = tmp_path / "out" / "chat.md"
    done = muxi("--profile", "prod", "sessions", "export", out["session_id"], "-o", str(export))
    assert done.returncode == 0, done.stderr
    [copy] = (tmp_path / "out" / f"{out['session_id']}-media").iterdir()
    from PIL import Image

    with Image.open(copy) as image:
        assert image.size == (24, 12)
    assert f"-media/{copy.name})" in export.read_text(encoding="utf-8")


def test_a_bad_file_through_a_profile_exits_2_and_never_reaches_the_model(
    prod: ServeProcess, module_llm: FakeLLM, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.png"
    cut.write_bytes(png(tmp_path / "whole.png", (100, 100)).read_bytes()[:60])
    result = muxi("--profile", "prod", "chat", "look", "-A", str(cut))
    assert result.returncode == 2, result.stderr
    assert "bad_media" in result.stderr
    assert module_llm.requests == []
