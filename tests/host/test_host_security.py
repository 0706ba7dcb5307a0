"""Only this OS user reaches a host; an unsafe runtime folder is never used."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM
from tests.host.support import daemon_pids, host_env, muxi, ok, start, statuses

pytestmark = pytest.mark.slow


def test_files_are_private_and_nothing_listens_on_tcp(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    import psutil

    fake_llm.write_formation(tmp_path)
    start()
    [row] = statuses()
    assert stat.S_IMODE(runtime_dir.stat().st_mode) == 0o700
    for path in [*runtime_dir.iterdir(), Path(row["socket"])]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_ISSOCK(Path(row["socket"]).stat().st_mode)
    inet = [
        c
        for c in psutil.Process(row["pid"]).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert inet == []
    token = (runtime_dir / f"{row['id']}.token").read_text()
    assert token not in (runtime_dir / f"{row['id']}.json").read_text()
    assert token not in (runtime_dir / f"{row['id']}.log").read_text()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another uid")
def test_another_os_user_cannot_connect(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.write_formation(tmp_path)
    start()
    [row] = statuses()
    code = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except PermissionError:\n"
        "    print('EACCES')\n"
        "else:\n"
        "    print('connected')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, row["socket"]], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip() == "EACCES", out.stderr
    # and the owner still can
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(row["socket"])


@pytest.mark.parametrize("problem", ["mode", "owner"])
def test_an_unsafe_runtime_folder_falls_back_in_process(
    problem: str, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    if problem == "owner" and os.getuid() != 0:
        pytest.skip("needs root to give a folder to another uid")
    fake_llm.write_formation(tmp_path)
    unsafe = tmp_path / "rt"
    unsafe.mkdir()
    if problem == "mode":
        unsafe.chmod(0o777)
    else:
        unsafe.chmod(0o700)
        os.chown(unsafe, 65534, 65534)
    env = host_env(MUXI_RUNTIME_DIR=str(unsafe))
    out = ok(muxi("-v", "chat", "hi", "-o", "text", env=env))
    assert out.stdout.strip() == "ok"
    assert "not used" in out.stderr and str(unsafe) in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert list(unsafe.iterdir()) == [] and daemon_pids(unsafe) == []
    quiet = ok(muxi("chat", "hi", "-o", "text", env=env))
    assert quiet.stderr == ""  # without -v, not a word
