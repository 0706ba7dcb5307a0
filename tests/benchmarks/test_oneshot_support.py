"""The process measuring and host clean-up that benchmarks/bench_oneshot.py relies on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import oneshot_support as sup
from tests.procs import stopping

ALLOCATE = "b = bytearray(80 * 2**20); b[::4096] = b'x' * len(b[::4096])"


def test_measure_reports_the_childs_peak_memory(tmp_path: Path) -> None:
    sample = sup.measure([sys.executable, "-c", ALLOCATE], {}, tmp_path)
    assert sample.peak_mib >= 80
    assert sample.wall_ms > 0


def test_a_shell_loop_reports_its_largest_child(tmp_path: Path) -> None:
    """The shell-loop row reads the shell's figure: it must include what it waited for."""
    script = 'for i in 1 2; do "$0" -c "$1" || exit 1; done'
    sample = sup.measure(["sh", "-c", script, sys.executable, ALLOCATE], {}, tmp_path)
    assert sample.peak_mib >= 80


def test_measure_raises_with_the_last_stderr_line(tmp_path: Path) -> None:
    code = "import sys; print('first'); sys.exit('the reason')"
    with pytest.raises(RuntimeError, match="exit 1: the reason"):
        sup.measure([sys.executable, "-c", code], {}, tmp_path)


def test_measure_kills_what_outlives_its_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="exit -9"):
        sup.measure(["sleep", "30"], {}, tmp_path, timeout=0.5)
    assert time.monotonic() - started < 10


def _fake_daemon(runtime_dir: Path) -> subprocess.Popen[Any]:
    """A process that looks like a host daemon of ``runtime_dir`` (command line and
    environment), waiting on its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", sup.DAEMON],
        stdin=subprocess.PIPE,
        env={"MUXI_RUNTIME_DIR": str(runtime_dir)},
    )
    # Until the child has exec'd, /proc shows the forking pytest's command line,
    # which is not a daemon's: wait for the exec (on a loaded machine it lagged).
    deadline = time.monotonic() + 10
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    while sup.DAEMON.encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


def test_only_this_runs_hosts_are_ended(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    with stopping(_fake_daemon(ours)) as mine, stopping(_fake_daemon(theirs)) as other:
        with stopping(subprocess.Popen(["sleep", "30"], env={"MUXI_RUNTIME_DIR": str(ours)})):
            assert sup.our_hosts(ours) == {mine.pid}  # the sleep is not a daemon
        sup.end_host(mine.pid)
        assert mine.wait(10) == -15
        assert other.poll() is None


def test_a_host_named_in_a_meta_file_is_found(tmp_path: Path) -> None:
    with stopping(_fake_daemon(tmp_path / "elsewhere")) as daemon:
        (tmp_path / "abc.json").write_text(f'{{"pid": {daemon.pid}}}', encoding="utf-8")
        (tmp_path / "bad.json").write_text("{", encoding="utf-8")
        assert sup.our_hosts(tmp_path) == {daemon.pid}


@pytest.mark.skipif(sup.peer_cmd() is None, reason=sup.PEER_MISSING)
def test_the_peer_answers_from_the_fake_model(fake_llm: Any, tmp_path: Path) -> None:
    env = sup.peer_env(sup.base_env(tmp_path), tmp_path / "llm", fake_llm.openai_base_url)
    peer = sup.peer_cmd()
    assert peer is not None
    sample = sup.measure([*peer, "-m", "fake", "hi"], env, tmp_path)
    assert sample.stdout.strip() == "ok"
    assert fake_llm.last_request["model"] == "fake-model"
