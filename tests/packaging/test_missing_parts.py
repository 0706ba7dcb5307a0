"""A command that needs a part of muxi that is not installed names the extra to
install, exits 2 and prints no traceback (issue 19); what does not need the
part keeps working. The parts are hidden with tests/hideparts.py; the package
check (scripts/package-check) does the same with real installs of each extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM, Text

HIDE = str(Path(__file__).resolve().parents[1] / "hideparts.py")


def muxi_without(parts: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``muxi ARGS`` with the modules of ``parts`` (comma-separated) not installed."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [sys.executable, HIDE, parts, "--", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def formation(fake: FakeLLM, extra: str = "") -> None:
    Path("muxi.yaml").write_text(
        "providers:\n"
        f"  fake: {{type: openai, base_url: '{fake.openai_base_url}', api_key: x}}\n"
        "agents:\n"
        "  - name: assistant\n"
        "    model: fake/fake-model\n" + extra,
        encoding="utf-8",
    )


def assert_names_extra(proc: subprocess.CompletedProcess[str], extra: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert f"pip install 'muxi-cli[{extra}]'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_serve_without_the_server_part_names_the_extra() -> None:
    proc = muxi_without("server", "serve", "--port", "0")
    assert_names_extra(proc, "server")
    assert "muxi serve needs the server part" in proc.stderr


def test_serve_without_the_local_part_still_names_the_server_extra() -> None:
    assert_names_extra(muxi_without("local", "serve", "--port", "0"), "server")


def test_memory_commands_without_the_memory_part(fake_llm: FakeLLM) -> None:
    formation(fake_llm)
    for args in (
        ("memory", "list"),
        ("memory", "search", "coffee"),
        ("memory", "stats"),
        ("memory", "stats", "--user", "alice"),
        ("memory", "map"),
    ):
        assert_names_extra(muxi_without("memory", *args), "memory")


def test_agents_run_without_long_term_memory_when_it_is_not_installed(
    fake_llm: FakeLLM, muxi_home: Path
) -> None:
    formation(fake_llm)
    fake_llm.script(Text("hello without memory"))
    proc = muxi_without("memory", "chat", "I live in Lisbon")
    assert proc.returncode == 0, proc.stderr
    assert "hello without memory" in proc.stdout
    # No extraction call followed the reply, and no memory store was made.
    assert len(fake_llm.requests) == 1
    assert not list(muxi_home.rglob("*.lance"))


def test_knowledge_files_without_the_memory_part_are_refused(fake_llm: FakeLLM) -> None:
    Path("notes.md").write_text("The office opens at nine.\n", encoding="utf-8")
    formation(fake_llm, "    knowledge: [notes.md]\n")
    proc = muxi_without("memory", "chat", "when does the office open?")
    assert_names_extra(proc, "memory")
    assert "knowledge files of agent 'assistant'" in proc.stderr


def test_attachments_without_the_media_part(fake_llm: FakeLLM, tmp_path: Path) -> None:
    formation(fake_llm)
    png = tmp_path / "dot.png"
    # A 1x1 PNG, written as bytes: the test itself must not need Pillow either.
    png.write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
        )
    )
    proc = muxi_without("media", "chat", "--attach", str(png), "what is this?")
    assert_names_extra(proc, "media")
    assert "reading dot.png" in proc.stderr
    # A text file needs no media package.
    (tmp_path / "note.txt").write_text("plain words\n", encoding="utf-8")
    fake_llm.script(Text("read it"))
    proc = muxi_without("media", "chat", "--attach", str(tmp_path / "note.txt"), "summarise")
    assert proc.returncode == 0, proc.stderr
    assert "read it" in proc.stdout


def test_a_remote_client_install_names_local_and_the_server_way() -> None:
    proc = muxi_without("local", "chat", "hi")
    assert_names_extra(proc, "local")
    assert "muxi -P NAME" in proc.stderr


def test_the_chat_app_on_the_local_profile_without_the_local_part() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    code = (
        "import runpy, sys; sys.argv = [sys.argv[0], 'local', '--', '--version'];"
        f"runpy.run_path({HIDE!r}, run_name='__main__');"
    )
    # --version first: the hidden modules are really gone in that interpreter.
    version = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert "parts: client, web, media" in version.stdout
    launch = (
        f"import sys; sys.path.insert(0, {str(Path(HIDE).parent.parent)!r});"
        "from tests.hideparts import HideModules, hidden_modules;"
        "sys.meta_path.insert(0, HideModules(hidden_modules(['local'])));"
        "from muxi_cli.cli.state import CliState; from muxi_cli.cli.tui_launch import launch_tui;"
        "from muxi_cli.errors import MissingPartError\n"
        "try:\n    launch_tui(CliState())\nexcept MissingPartError as exc:\n"
        "    print('refused:', exc.message, exc.hint)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", launch], capture_output=True, text=True, env=env, timeout=60
    )
    assert "refused: the chat app on the local profile needs the local part" in proc.stdout
    assert "muxi-cli[local]" in proc.stdout


def test_doctor_lists_the_parts_and_fails_only_for_what_the_profile_needs() -> None:
    proc = muxi_without("local", "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert proc.returncode == 1
    assert checks["part client"]["status"] == "ok"
    assert checks["part local"]["status"] == "fail"
    assert checks["part local"]["fix"] == "pip install 'muxi-cli[local]'"
    assert checks["part memory"]["status"] == "info"
    assert checks["config"]["status"] == "skip"


@pytest.mark.parametrize(
    ("module", "extra"),
    [("lancedb.table", "memory"), ("uvicorn", "server"), ("PIL.Image", "media"),
     ("textual_serve.server", "web"), ("anthropic", "local"), ("pydantic", None),
     ("json", None)],
)  # fmt: skip
def test_a_stray_import_error_maps_to_its_extra(module: str, extra: str | None) -> None:
    from muxi_cli.parts import part_for_module

    found = part_for_module(module)
    assert (found.extra if found else None) == extra


def test_command_words() -> None:
    from muxi_cli.cli.output import command_words

    assert command_words(["-P", "prod", "memory", "list", "--json"]) == "muxi memory list"
    assert command_words(["chat", "What is 2+2?"]) == "muxi chat"
    assert command_words(["--config", "x.yaml"]) == "the chat app"


def test_no_warm_host_is_tried_without_the_local_part(monkeypatch: pytest.MonkeyPatch) -> None:
    from muxi_cli import parts
    from muxi_cli.host import client

    monkeypatch.delenv("MUXI_HOST", raising=False)
    assert client.host_enabled(None)
    monkeypatch.setattr(parts, "has", lambda name: name != "local")
    assert not client.host_enabled(None)


def test_a_turn_that_meets_a_missing_part_fails_naming_the_extra() -> None:
    from muxi_cli.runtime.turns import failure_event

    event = failure_event("run_1", "ses_1", ModuleNotFoundError("no PIL", name="PIL.Image"))
    error = event.to_dict()["error"]
    assert error["code"] == "missing_part"
    assert "pip install 'muxi-cli[media]'" in error["hint"]
    # Anything else stays an internal error that leaks nothing.
    other = failure_event("run_1", "ses_1", ModuleNotFoundError("no foo", name="foo"))
    assert other.to_dict()["error"]["code"] == "internal_error"


def test_muxi_web_names_its_extras() -> None:
    assert_names_extra(muxi_without("web", "web", "--port", "0"), "web")
    # On the local profile each tab would run agents here: the local part first.
    proc = muxi_without("local", "web", "--port", "0")
    assert_names_extra(proc, "local")
    assert "muxi web on the local profile" in proc.stderr
