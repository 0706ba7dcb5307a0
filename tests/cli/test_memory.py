"""``muxi memory`` end to end: the real CLI app, LocalRuntime and a LanceDB store."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app
from muxi_cli.stores.lance_schema import SCHEMA_VERSION

USER = "tester"


@pytest.fixture(autouse=True)
def _setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MUXI_USER_ID", USER)
    monkeypatch.setenv("COLUMNS", "200")
    # The hash embedder keeps these tests fast; tests/memory covers the real model.
    (tmp_path / "muxi.yaml").write_text("memory:\n  embedding: hash\n  ttl_days: 30\n")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def add(runner: CliRunner, text: str, *extra: str) -> str:
    code, out, err = run(runner, "memory", "add", text, *extra)
    assert code == 0, err
    return out.strip()


def test_add_list_search_show(runner: CliRunner) -> None:
    first = add(runner, "User likes green tea")
    add(runner, "Tea is a drink", "--kind", "knowledge", "--user", "bob")
    code, out, _ = run(runner, "memory", "list", "--json")
    items = json.loads(out)
    assert [i["id"] for i in items] == [first] and items[0]["user_id"] == USER
    code, out, _ = run(runner, "memory", "list", "--user", "bob", "--kind", "knowledge")
    assert "Tea is a drink" in out
    code, out, _ = run(runner, "memory", "search", "green tea", "--json")
    assert json.loads(out)[0]["id"] == first
    code, out, _ = run(runner, "memory", "show", first[:8])
    assert code == 0 and "User likes green tea" in out and "importance" in out
    code, _out, err = run(runner, "memory", "show", first, "--user", "bob")
    assert code == 2 and "no memory" in err


def test_duplicates_and_shared(runner: CliRunner) -> None:
    first = add(runner, "User likes jazz")
    assert add(runner, "user likes jazz.") == first
    add(runner, "Office opens at 9", "--shared", "--kind", "knowledge")
    _code, out, _ = run(runner, "memory", "list", "--user", "*", "--json")
    assert [i["text"] for i in json.loads(out)] == ["Office opens at 9"]


def test_messages_name_the_owner_and_search_covers_shared_knowledge(runner: CliRunner) -> None:
    code, out, err = run(runner, "memory", "add", "User likes green tea")
    assert code == 0 and f"remembered for {USER!r}" in err, err
    code, _out, err = run(
        runner, "memory", "add", "Tea room opens at 9", "--shared", "-k", "knowledge"
    )
    assert code == 0 and "remembered for every user (shared knowledge)" in err, err
    code, out, err = run(runner, "memory", "add", "Bob likes coffee", "--user", "bob")
    assert code == 0 and "remembered for 'bob'" in err, err
    # The scope a chat turn recalls: the user's memories plus the shared knowledge.
    code, out, err = run(runner, "memory", "search", "tea room", "--json")
    assert code == 0, err
    assert {i["user_id"] for i in json.loads(out)} == {USER, "*"}
    code, out, err = run(runner, "memory", "search", "tea room")
    assert code == 0 and "shared" in out and "Tea room opens at 9" in out
    assert f"searched memories of {USER!r} and shared knowledge" in err
    code, out, err = run(runner, "memory", "search", "tea room", "--user", "*", "--json")
    assert [i["user_id"] for i in json.loads(out)] == ["*"]
    assert "searched the shared knowledge" in run(runner, "memory", "search", "tea", "-u", "*")[2]


def test_forget_previews_and_needs_confirmation(runner: CliRunner) -> None:
    memory_id = add(runner, "User's locker code is 4711")
    code, _out, err = run(runner, "memory", "forget", memory_id)
    assert code == 2 and "--yes" in err  # not a terminal: refuses without --yes
    code, _out, err = run(runner, "memory", "forget", memory_id, "--yes")
    assert code == 0 and "locker code" in err
    code, out, _ = run(runner, "memory", "list", "--json")
    assert json.loads(out) == []


def test_forget_user_all(runner: CliRunner) -> None:
    add(runner, "User is alice", "--user", "alice")
    add(runner, "User has a cat", "--user", "alice")
    keep = add(runner, "User is bob", "--user", "bob")
    code, _out, err = run(runner, "memory", "forget", "--all")
    assert code == 2 and "--user" in err
    code, _out, err = run(runner, "memory", "forget", "--user", "alice", "--all", "--yes")
    assert code == 0 and "all 2 memories" in err
    assert json.loads(run(runner, "memory", "list", "--user", "alice", "--json")[1]) == []
    assert [
        i["id"] for i in json.loads(run(runner, "memory", "list", "--user", "bob", "--json")[1])
    ] == [keep]


def test_export_import_round_trip(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = add(runner, "User likes tea")
    b = add(runner, "User's quote: 'it\\'s fine' \u2603", "--user", "o'brien")
    target = tmp_path / "export.jsonl"
    code, _out, err = run(runner, "memory", "export", "-o", str(target))
    assert code == 0 and "exported 2" in err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    code, stdout_export, _ = run(runner, "memory", "export", "--user", USER)
    assert len(stdout_export.splitlines()) == 2  # header + one memory

    monkeypatch.setenv("MUXI_HOME", str(tmp_path / "other-home"))
    code, out, err = run(runner, "memory", "import", str(target), "--json")
    assert code == 0, err
    assert json.loads(out) == {"imported": 2, "reembedded": 0}
    assert [i["id"] for i in json.loads(run(runner, "memory", "list", "--json")[1])] == [a]
    listed = json.loads(run(runner, "memory", "list", "--user", "o'brien", "--json")[1])
    assert [i["id"] for i in listed] == [b]


def test_export_to_unwritable_path_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    add(runner, "User likes tea")
    (tmp_path / "afile").write_text("")
    code, out, err = run(runner, "memory", "export", "-o", str(tmp_path / "afile" / "x.jsonl"))
    assert code == 2, err
    assert out == ""
    assert "cannot write" in err and "Traceback" not in err


def test_prune_stats_optimize_reindex(runner: CliRunner, tmp_path: Path) -> None:
    add(runner, "User likes tea")
    code, out, _ = run(runner, "memory", "prune", "--dry-run", "--json")
    assert json.loads(out) == {"pruned": [], "dry_run": True}
    code, out, _ = run(runner, "memory", "prune", "--max-per-user", "0", "--ttl-days", "0", "--yes")
    assert code == 0
    code, out, _ = run(runner, "memory", "stats", "--json")
    stats = json.loads(out)
    assert stats["memories"] == 1 and stats["embedding_model"] == "hash/384"
    assert stats["schema_version"] == SCHEMA_VERSION and not stats["needs_reindex"]
    code, out, _ = run(runner, "memory", "optimize", "--json")
    assert code == 0 and "memories" in json.loads(out)["tables"]
    code, _out, err = run(runner, "memory", "reindex", "--yes")
    assert code == 0 and "re-embedded 1 memories" in err


def test_extraction_switch(runner: CliRunner) -> None:
    assert run(runner, "memory", "extraction")[1].strip() == "on"
    assert run(runner, "memory", "extraction", "off", "--user", "alice")[1].strip() == "off"
    assert run(runner, "memory", "extraction", "--user", "alice")[1].strip() == "off"
    assert run(runner, "memory", "extraction")[1].strip() == "on"


def test_admin_commands_refuse_remote_profiles(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUXI_PROFILE", "prod")
    for args in (["export"], ["stats"], ["prune", "--dry-run"], ["optimize"], ["reindex", "--yes"]):
        code, _out, err = run(runner, "memory", *args)
        assert code == 2, args
        assert "remote" in err and "--profile local" in err


def test_add_replaces_and_show_the_versions(runner: CliRunner) -> None:
    berlin = add(runner, "User lives in Berlin")
    lisbon = add(runner, "User moved to Lisbon in March 2026", "--replaces", berlin[:8])
    porto = add(runner, "User moved to Porto", "--replaces", lisbon)
    code, out, err = run(runner, "memory", "show", lisbon)
    assert code == 0, err
    assert "about: user" in out and "dates: 2026-03" in out
    replaced_by, replaces = out.split("replaced by (newest first):")[1].split("replaces (newest")
    assert porto in replaced_by and berlin in replaces and "User lives in Berlin" in replaces
    code, out, _ = run(runner, "memory", "show", porto, "--json")
    shown = json.loads(out)
    assert [v["id"] for v in shown["replaced"]] == [lisbon, berlin]  # newest first
    assert shown["replaced_by"] == [] and shown["subject"] == "user"
    # Only a current memory of the same user and kind can be replaced.
    bobs = add(runner, "User lives in Oslo", "--user", "bob")
    for target, words in (
        (bobs, "no memory"),
        (berlin, "already replaced"),
        ("nope99", "no memory"),
    ):
        code, _out, err = run(runner, "memory", "add", "User lives in Rome", "--replaces", target)
        assert code == 2 and words in err, err
    code, _out, err = run(
        runner, "memory", "add", "Rome is in Italy", "-k", "knowledge", "--replaces", porto
    )
    assert code == 2 and "not a knowledge" in err


def test_search_marks_the_versions_a_newer_memory_replaced(runner: CliRunner) -> None:
    # Search returns replaced versions too (ranked below their successor); the table
    # must not show an old city as if it were the current one.
    berlin = add(runner, "User lives in Berlin")
    lisbon = add(runner, "User lives in Lisbon", "--replaces", berlin)
    code, out, err = run(runner, "memory", "search", "User lives in Berlin")
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "(since replaced) User lives in Berlin" in lines[berlin]
    assert "since replaced" not in lines[lisbon]
    assert "muxi memory show ID" in err
