"""The runtime folder: private, ours, and refused otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from muxi_cli.host.paths import MAX_SOCKET_PATH, HostUnavailable, host_files, runtime_dir


def test_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "rt"
    monkeypatch.setenv("MUXI_RUNTIME_DIR", str(target))
    assert runtime_dir() == target
    assert target.stat().st_mode & 0o777 == 0o700


def test_open_to_others_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "rt"
    target.mkdir()
    target.chmod(0o777)
    monkeypatch.setenv("MUXI_RUNTIME_DIR", str(target))
    with pytest.raises(HostUnavailable, match="open to other users"):
        runtime_dir()


def test_another_owner_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a folder to another uid")
    target = tmp_path / "rt"
    target.mkdir(mode=0o700)
    os.chown(target, 65534, 65534)
    monkeypatch.setenv("MUXI_RUNTIME_DIR", str(target))
    with pytest.raises(HostUnavailable, match="belongs to uid 65534"):
        runtime_dir()


def test_a_symlink_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("MUXI_RUNTIME_DIR", str(tmp_path / "link"))
    with pytest.raises(HostUnavailable, match="symlink"):
        runtime_dir()


def test_xdg_runtime_dir_then_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUXI_RUNTIME_DIR")
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert runtime_dir() == xdg / "muxi"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert runtime_dir() == Path(f"/tmp/muxi-{os.getuid()}")


def test_long_socket_paths_move_to_a_short_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    deep.mkdir(mode=0o700)
    files = host_files("0123456789abcdef", deep)
    assert len(str(files.socket)) < MAX_SOCKET_PATH
    assert files.meta.parent == deep and files.socket.parent == Path(f"/tmp/muxi-{os.getuid()}")
