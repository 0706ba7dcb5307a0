"""The TypeScript client's own tests, run from the Python suite.

``npm run build`` then ``npm test`` in ``clients/typescript``: Node's test
runner runs the SSE parser and error-mapping unit tests, the check that
``src/generated.ts`` matches ``docs/api``, and the contract scenarios against
a real ``muxi serve`` (the rig, ``python -m tests.clients.rig``, started with
this interpreter through ``MUXI_PYTHON``). So the README's test command and
``.ci/run`` run them. Without Node 20+, npm or the package's dependencies
(``npm ci --prefix clients/typescript``, which ``scripts/test`` runs) the test
skips, except in CI (``MUXI_TEST_CI=1``), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "typescript"
#: The oldest Node the client supports (the global fetch and web streams).
NODE_MAJOR = 20
#: Output kept for a failure's message (the end is what says what failed).
TAIL = 20_000


def _missing() -> str | None:
    """Why the TypeScript tests cannot run here, or None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are not installed"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    try:
        major = int(out.strip().lstrip("v").split(".")[0])
    except ValueError:
        return f"cannot read the Node version from {out!r}"
    if major < NODE_MAJOR:
        return f"Node {out.strip()} is older than {NODE_MAJOR}"
    if not (PACKAGE / "node_modules" / "typescript").is_dir():
        return "clients/typescript has no node_modules: npm ci --prefix clients/typescript"
    return None


@pytest.fixture(scope="module")
def npm() -> str:
    why = _missing()
    if why is not None:
        if os.environ.get("MUXI_TEST_CI"):
            pytest.fail(f"the TypeScript client's tests cannot run in CI: {why}")
        pytest.skip(why)
    found = shutil.which("npm")
    assert found is not None
    return found


def _run(npm: str, *args: str, timeout: float) -> tuple[int, str]:
    """``npm ARGS`` in the package, output captured; its whole process group is
    stopped however this ends (``npm test`` starts the rig and ``muxi serve``)."""
    env = {
        **os.environ,
        "MUXI_PYTHON": sys.executable,
        "NO_UPDATE_NOTIFIER": "1",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    proc = subprocess.Popen(
        [npm, *args],
        cwd=PACKAGE,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        return -1, f"{out}\n[npm {' '.join(args)} did not end within {timeout} s]"
    finally:
        # Anything of the group still alive (a rig whose runner died) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


# Build (300 s) and test (900 s) have limits of their own, which pytest's default
# 120 s would override on a loaded machine; the same reason as the conformance run.
@pytest.mark.timeout(1260)
def test_typescript_client_builds_and_passes_its_tests(npm: str) -> None:
    code, out = _run(npm, "run", "build", timeout=300)
    assert code == 0, f"npm run build failed ({code}):\n{out[-TAIL:]}"
    code, out = _run(npm, "test", timeout=900)
    assert code == 0, f"npm test failed ({code}):\n{out[-TAIL:]}"
    assert "# fail 0" in out, out[-TAIL:]
