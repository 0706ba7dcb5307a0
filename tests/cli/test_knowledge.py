"""``muxi knowledge`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app


@pytest.fixture(autouse=True)
def _setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nAlpha ships on Monday.\n")
    (docs / "b.txt").write_text("Beta ships on Friday.\n")
    (tmp_path / "muxi.yaml").write_text(
        "memory:\n  embedding: hash\n"
        "agents:\n"
        "  - name: helper\n    knowledge:\n      - path: docs\n        description: release notes\n"
        "  - name: other\n"
    )


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_rebuild_list_and_changes(tmp_path: Path) -> None:
    code, out, err = run("knowledge", "rebuild", "--json")
    assert code == 0, err
    reports = {r["agent"]: r for r in json.loads(out)}
    assert reports["helper"]["added"] == ["docs/a.md", "docs/b.txt"]
    assert reports["other"]["added"] == []

    code, out, _ = run("knowledge", "rebuild", "--agent", "helper")
    assert code == 0
    (tmp_path / "docs" / "b.txt").unlink()
    code, out, _ = run("knowledge", "rebuild", "--agent", "helper", "--json")
    assert json.loads(out)[0]["removed"] == ["docs/b.txt"]
    assert json.loads(out)[0]["unchanged"] == ["docs/a.md"]

    code, out, _ = run("knowledge", "list", "--json")
    (item,) = json.loads(out)
    assert item["agent"] == "helper"
    assert item["entries"][0]["description"] == "release notes"
    assert item["files"] == [{"source": "docs/a.md", "chunks": 1}]
    code, out, _ = run("knowledge", "list")
    assert "release notes" in out and "docs/a.md" in out


def test_add_keeps_the_entry(tmp_path: Path) -> None:
    extra = tmp_path / "faq.html"
    extra.write_text("<p>Refunds take five days.</p>")
    code, out, err = run("knowledge", "add", str(extra), "--agent", "other", "-d", "faq", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["added"] == ["faq.html"]
    code, out, _ = run("knowledge", "list", "--agent", "other", "--json")
    (item,) = json.loads(out)
    assert item["entries"][0]["added_with_cli"] is True
    # A rebuild keeps files added with the CLI.
    code, out, _ = run("knowledge", "rebuild", "--agent", "other", "--json")
    assert json.loads(out)[0]["unchanged"] == ["faq.html"]


def test_errors(tmp_path: Path) -> None:
    code, _out, err = run("knowledge", "rebuild", "--agent", "nobody")
    assert code == 2 and "no agent" in err
    code, _out, err = run("knowledge", "add", str(tmp_path / "missing.md"), "--agent", "helper")
    assert code != 0 and "does not exist" in err
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"garbage")
    code, _out, err = run("knowledge", "rebuild", "--agent", "helper")
    assert code == 1 and "broken.pdf" in err


def test_no_progress_bar_residue_in_a_pipe() -> None:
    """stderr is not a terminal here: the bar draws nothing, not even a blank line."""
    code, out, err = run("knowledge", "rebuild", "--agent", "helper")
    assert code == 0, err
    assert out == ""
    assert err.startswith("helper: 2 added"), repr(err)


def test_add_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    code, out, err = run("knowledge", "add", str(tmp_path / "missing.md"))
    assert code == 2 and out == ""
    assert "does not exist" in err
    assert "muxi.yaml" not in err  # the path came from the command line, not the formation
