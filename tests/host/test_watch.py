"""Freshness and the host's own reasons to stop, as plain functions."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from muxi_cli.host.meta import Meta, env_refs, env_refs_hash, stale_reason, stamps
from muxi_cli.host.sources import formation_sources
from muxi_cli.host.watch import SocketId, exit_reason, trim_log


def _meta(tmp_path: Path, files: list[Path], refs: list[str], env: dict[str, str]) -> Meta:
    return Meta(
        id="0" * 16,
        key="0" * 64,
        pid=os.getpid(),
        version="x",
        formation=str(files[0]) if files else None,
        cwd=str(tmp_path),
        started=0.0,
        socket=str(tmp_path / "h.sock"),
        idle_timeout=5.0,
        sources=stamps(files),
        env_refs=refs,
        env_refs_hash=env_refs_hash(refs, env),
    )


def test_sources_cover_agent_files_and_the_agents_folder(tmp_path: Path) -> None:
    main = tmp_path / "muxi.yaml"
    (tmp_path / "a.yaml").write_text("name: a\n")
    main.write_text("agents:\n  a: a.yaml\n  b: {system_message: hi}\n")
    assert formation_sources(main) == [main, tmp_path / "a.yaml"]
    main.write_text("name: x\n")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "x.yml").write_text("name: x\n")
    assert formation_sources(main) == [main, tmp_path / "agents", tmp_path / "agents" / "x.yml"]


def test_env_refs_are_found_and_hashed(tmp_path: Path) -> None:
    main = tmp_path / "muxi.yaml"
    main.write_text("a: ${TOKEN}\nb: ${URL:-http://x}\nc: $${LITERAL}\n")
    refs = env_refs([main])
    assert refs == ["TOKEN", "URL"]
    meta = _meta(tmp_path, [main], refs, {"TOKEN": "t"})
    assert stale_reason(meta, {"TOKEN": "t"}) is None
    assert stale_reason(meta, {"TOKEN": "u"}) is not None
    assert stale_reason(meta, {}) is not None  # removed
    assert stale_reason(meta, {"TOKEN": "t", "URL": ""}) is not None  # unset vs empty


def test_an_edited_or_removed_source_is_stale(tmp_path: Path) -> None:
    main = tmp_path / "muxi.yaml"
    main.write_text("name: x\n")
    meta = _meta(tmp_path, [main], [], {})
    assert stale_reason(meta, {}) is None
    main.write_text("name: xy\n")
    assert "changed" in (stale_reason(meta, {}) or "")
    main.unlink()
    assert stale_reason(meta, {}) is not None


@pytest.fixture
def listening(tmp_path: Path):  # type: ignore[no-untyped-def]
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "h.sock"))
    yield sock
    sock.close()


def test_exit_reasons(tmp_path: Path, listening: socket.socket) -> None:
    main = tmp_path / "muxi.yaml"
    main.write_text("name: x\n")
    meta = _meta(tmp_path, [main], [], {})
    ours = SocketId.of(Path(meta.socket))
    assert ours is not None
    assert exit_reason(meta, ours, idle_seconds=1, running_turns=0) is None
    assert "idle" in (exit_reason(meta, ours, idle_seconds=6, running_turns=0) or "")
    assert exit_reason(meta, ours, idle_seconds=60, running_turns=1) is None  # a turn runs
    Path(meta.socket).unlink()
    assert "deleted" in (exit_reason(meta, ours, 0, 0) or "")
    other = socket.socket(socket.AF_UNIX)
    try:
        other.bind(meta.socket)
        assert "replaced" in (exit_reason(meta, ours, 0, 0) or "")
    finally:
        other.close()


def test_folder_gone(tmp_path: Path, listening: socket.socket) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    main = folder / "muxi.yaml"
    main.write_text("name: x\n")
    meta = _meta(tmp_path, [main], [], {})
    ours = SocketId.of(Path(meta.socket))
    assert ours is not None
    main.unlink()
    folder.rmdir()
    assert "folder" in (exit_reason(meta, ours, 0, 0) or "")


def test_trim_log(tmp_path: Path) -> None:
    log = tmp_path / "h.log"
    log.write_bytes(b"".join(b"line %05d\n" % i for i in range(2000)))
    trim_log(log, limit=10_000, keep=1000)
    text = log.read_bytes()
    assert len(text) <= 1000 and text.endswith(b"line 01999\n") and text.startswith(b"line ")
