"""``muxi sessions`` end to end: the real CLI app, the runtime, the SQLite store."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.protocol.records import SessionInfo
from muxi_cli.stores.sessions import SessionStore, load_export

USER = "tester"


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_USER_ID", USER)
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def store() -> Iterator[SessionStore]:
    s = SessionStore()
    yield s
    s.close()


def _trip(store: SessionStore, user: str = USER) -> SessionInfo:
    info = store.create_session(user, agent="planner")
    store.add_message(info.id, "user", "Plan a weekend in Lisbon")
    store.add_message(
        info.id,
        "assistant",
        "Let me check the weather.",
        agent="planner",
        tool_calls=[
            {"id": "c1", "server": "weather", "tool": "forecast", "arguments": {"city": "Lisbon"}}
        ],
    )
    store.add_message(
        info.id,
        "tool",
        "Sunny, 24C\nmore detail",
        tool_call_id="c1",
        meta={"server": "weather", "tool": "forecast", "ok": True, "duration_ms": 31},
    )
    store.add_message(info.id, "assistant", "Sunny: go to **Belém**.", agent="planner")
    return store.get_session(info.id)


def test_list_table_and_json(runner: CliRunner, store: SessionStore) -> None:
    trip = _trip(store)
    other = store.create_session(USER, title="Refactor the parser", agent="coder")
    result = runner.invoke(app, ["sessions", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "AGENT", "MSGS", "UPDATED"]
    assert other.id in lines[1] and "Refactor the parser" in lines[1]
    assert trip.id in lines[2] and "Plan a weekend in Lisbon" in lines[2] and "planner" in lines[2]
    assert " 4 " in lines[2]

    result = runner.invoke(app, ["sessions", "list", "--json", "--search", "weather"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [d["id"] for d in data] == [trip.id]
    assert data[0]["message_count"] == 4

    result = runner.invoke(app, ["sessions", "list", "--json", "--limit", "1"])
    assert [d["id"] for d in json.loads(result.stdout)] == [other.id]


def test_list_by_user(runner: CliRunner, store: SessionStore) -> None:
    _trip(store)
    theirs = store.create_session("someone-else", title="Theirs")
    result = runner.invoke(app, ["sessions", "list", "--json", "--user", "someone-else"])
    assert result.exit_code == 0
    assert [d["id"] for d in json.loads(result.stdout)] == [theirs.id]
    mine = runner.invoke(app, ["sessions", "list", "--json"])
    assert theirs.id not in mine.stdout  # the default is this user's sessions only
    assert len(json.loads(mine.stdout)) == 1


def test_reply_cut_off_by_a_crash_shows_as_interrupted(runner: CliRunner) -> None:
    with SessionStore() as crashed:
        info = crashed.create_session(USER)
        crashed.add_message(info.id, "user", "write a poem")
        crashed.add_message(info.id, "assistant", "Roses are", status="streaming", agent="bard")
    result = runner.invoke(app, ["sessions", "show", info.id])
    assert result.exit_code == 0, result.output
    assert "bard (interrupted)" in result.stdout and "Roses are" in result.stdout


def test_list_empty_says_so_on_stderr(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sessions", "list"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No sessions yet" in result.stderr
    result = runner.invoke(app, ["sessions", "list", "--json"])
    assert json.loads(result.stdout) == []


def test_show_readable_with_prefix(runner: CliRunner, store: SessionStore) -> None:
    trip = _trip(store)
    result = runner.invoke(app, ["sessions", "show", trip.id[2:8]])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert trip.id in out and "Plan a weekend in Lisbon" in out
    assert "you" in out and "planner" in out
    assert '→ weather/forecast(city="Lisbon")' in out
    assert "← weather/forecast ok 31 ms: Sunny, 24C more detail" in out
    assert "Sunny: go to **Belém**." in out  # plain text when not a terminal

    result = runner.invoke(app, ["sessions", "show", trip.id, "--json"])
    data = json.loads(result.stdout)
    assert data["session"]["id"] == trip.id
    assert [m["role"] for m in data["messages"]] == ["user", "assistant", "tool", "assistant"]


def test_unknown_id_exits_2_with_panel(runner: CliRunner) -> None:
    for args in (
        ["show", "s_nothere"],
        ["export", "nothere"],
        ["delete", "nothere", "--yes"],
        ["rename", "nothere", "x"],
    ):
        result = runner.invoke(app, ["sessions", *args])
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == ""
        assert "not_found" in result.stderr
        assert "muxi sessions list" in result.stderr


def test_ambiguous_prefix_exits_2(runner: CliRunner, store: SessionStore) -> None:
    store.create_session(USER, session_id="s_dup1", title="one")
    store.create_session(USER, session_id="s_dup2", title="two")
    result = runner.invoke(app, ["sessions", "show", "dup"])
    assert result.exit_code == 2
    assert "ambiguous" in result.stderr and "s_dup1" in result.stderr


def test_export_md_json_and_file(runner: CliRunner, store: SessionStore, tmp_path: Path) -> None:
    trip = _trip(store)
    md = runner.invoke(app, ["sessions", "export", trip.id])
    assert md.exit_code == 0
    assert md.stdout.startswith("# Plan a weekend in Lisbon")
    assert "<summary>weather/forecast (ok, 31 ms)</summary>" in md.stdout

    js = runner.invoke(app, ["sessions", "export", trip.id, "--format", "json"])
    assert js.exit_code == 0
    info, messages = load_export(js.stdout)
    assert info == store.get_session(trip.id)
    assert messages == store.messages(trip.id)

    target = tmp_path / "out" / "trip.md"
    result = runner.invoke(app, ["sessions", "export", trip.id[:6], "-f", "md", "-o", str(target)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert target.read_text(encoding="utf-8") == md.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    bad = runner.invoke(app, ["sessions", "export", trip.id, "--format", "html"])
    assert bad.exit_code == 2 and "usage_error" in bad.stderr


def test_media_parts_show_as_placeholders(runner: CliRunner, store: SessionStore) -> None:
    from muxi_cli.protocol.messages import ImagePart, TextPart

    info = store.create_session(USER)
    ref = store.media.put(b"\x89PNG not really", "image/png", "dot.png")
    store.add_message(
        info.id, "user", "what is this?", parts=[TextPart("what is this?"), ImagePart(ref)]
    )
    placeholder = "[image: dot.png, image/png, 15 bytes]"
    shown = runner.invoke(app, ["sessions", "show", info.id])
    assert shown.exit_code == 0 and placeholder in shown.stdout
    md = runner.invoke(app, ["sessions", "export", info.id])
    assert f"what is this?\n{placeholder}" in md.stdout
    js = runner.invoke(app, ["sessions", "export", info.id, "--format", "json"])
    (msg,) = json.loads(js.stdout)["messages"]
    assert msg["content"] == "what is this?"
    assert msg["parts"][1] == {"type": "image", "media": ref.to_dict()}


def test_export_to_unwritable_path_is_a_usage_error(
    runner: CliRunner, store: SessionStore, tmp_path: Path
) -> None:
    trip = _trip(store)
    (tmp_path / "afile").write_text("")
    result = runner.invoke(
        app, ["sessions", "export", trip.id, "-o", str(tmp_path / "afile" / "trip.md")]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "cannot write" in result.stderr


def test_delete_needs_yes_without_tty(runner: CliRunner, store: SessionStore) -> None:
    trip = _trip(store)
    result = runner.invoke(app, ["sessions", "delete", trip.id])
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert store.get_session(trip.id).id == trip.id

    result = runner.invoke(app, ["sessions", "delete", trip.id[:7], "--yes"])
    assert result.exit_code == 0, result.output
    assert store.list_sessions() == []


def test_delete_asks_on_a_tty(
    runner: CliRunner, store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import muxi_cli.cli.sessions as cmd

    monkeypatch.setattr(cmd, "_stdin_is_tty", lambda: True)
    trip = _trip(store)
    declined = runner.invoke(app, ["sessions", "delete", trip.id], input="n\n")
    assert declined.exit_code == 1
    assert "Delete session" in declined.stderr and "Nothing deleted" in declined.stderr
    assert store.get_session(trip.id)

    accepted = runner.invoke(app, ["sessions", "delete", trip.id], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert store.list_sessions() == []


def test_rename(runner: CliRunner, store: SessionStore) -> None:
    trip = _trip(store)
    result = runner.invoke(app, ["sessions", "rename", trip.id[:5], "Lisbon weekend"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{trip.id}\tLisbon weekend\n"
    assert store.get_session(trip.id).title == "Lisbon weekend"
    empty = runner.invoke(app, ["sessions", "rename", trip.id, "  "])
    assert empty.exit_code == 2


def test_help_lists_subcommands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sessions", "--help"])
    assert result.exit_code == 0
    for name in ("list", "show", "export", "delete", "rename"):
        assert name in result.stdout
