"""Readable listings: `muxi memory stats`, `muxi keys list` for local servers, `muxi
knowledge` counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from muxi_cli.cli.app import app


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_memory_stats_reads_like_a_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_USER_ID", "tester")
    Path("muxi.yaml").write_text("memory:\n  embedding: hash\n")
    code, _, err = invoke("memory", "add", "User likes tea")
    assert code == 0, err
    code, out, err = invoke("memory", "stats")
    assert code == 0, err
    assert "{" not in out and "'" not in out  # no Python reprs
    assert "by kind:" in out and "fact 1" in out
    assert "needs reindex:" in out and " no" in out
    lines = [line for line in out.splitlines() if line.startswith("disk size:")]
    assert lines and lines[0].rstrip().endswith(("bytes", "KiB", "MiB", "GiB"))


def test_keys_list_says_a_local_server_needs_no_key(tmp_path: Path) -> None:
    Path("muxi.yaml").write_text(
        "default_model: local/m\nproviders:\n  local: {type: openai, base_url: 'http://127.0.0.1:9/v1'}\n"
    )
    code, out, err = invoke("keys", "list")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("local "))
    assert "not needed" in row and "not set" not in row


def test_knowledge_counts_are_singular_for_one_chunk(tmp_path: Path) -> None:
    Path("muxi.yaml").write_text("memory:\n  embedding: hash\nagents:\n  - name: a\n")
    (tmp_path / "notes.md").write_text("# Returns\n\nThirty days with a receipt.\n")
    code, _, err = invoke("knowledge", "add", "notes.md")
    assert code == 0, err
    assert "(1 new chunk)" in err
    code, out, err = invoke("knowledge", "list")
    assert code == 0, err
    assert "1 chunk" in out and "1 chunks" not in out


def test_consoles_follow_a_swapped_stdout_and_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A console made for one stream (and width) is not reused for another."""
    import io

    from muxi_cli.cli import output

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    first = output.out_console()
    assert first.width == output.PIPE_WIDTH
    assert output.out_console() is first  # same stream: cached
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert output.out_console().width == 200
