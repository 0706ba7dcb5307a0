"""The contract rig (tests/clients/rig.py) as a fixture: one per test module."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.scenarios import ROOT, RigInfo
from tests.procs import stop

#: How long the rig may take to start the fake model and ``muxi serve``.
START_TIMEOUT = 90.0


def _first_line(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> bytes:
    """The rig's JSON line, waited for explicitly (bounded); its log when it fails."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line:
                return line
        if proc.poll() is not None:
            break
    raise AssertionError(
        f"the rig gave no JSON line in {timeout} s:\n{log.read_text(errors='replace')}"
    )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RigInfo]:
    root = tmp_path_factory.mktemp("contract-rig")
    log = root / "rig.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.clients.rig", "--root", str(root / "rig")],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    try:
        info = json.loads(_first_line(proc, log, START_TIMEOUT))
        yield RigInfo(
            info["url"], info["control"], info["admin_key"], info["api_version"], root / "rig"
        )
    finally:
        # Closing its stdin is how a runner says it is done (README); SIGTERM if it hangs.
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        stop(proc)
