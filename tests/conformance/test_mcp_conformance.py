"""The official MCP conformance suite against muxi (scripts/mcp-conformance).

Runs the suite's client mode with muxi as the client (every scenario) and its
server mode against a project from ``muxi create mcp-server``, then compares
the per-scenario results with scripts/conformance/expected.json: a scenario
listed there as an expected failure (with its reason) must fail, every other
one must pass. The test fails on a regression and also on a new pass, naming
the scenario, so the expectations (and docs/mcp-conformance.md) follow the code.

Node 22 and the suite are installed by ``scripts/test`` (``scripts/mcp-conformance
install``), so the test needs no network; without them it skips, except in CI
(``MUXI_TEST_CI=1``), where that is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

# pytest's default 120 s would cut the run short of its own 900 s limit (a CI run
# on a loaded machine hit it): the suite's limit is what counts, plus time to stop.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(960)]

SCRIPT = ROOT / "scripts" / "mcp-conformance"
LOCKS = ROOT / "scripts" / "conformance"
CACHE = ROOT / ".cache" / "mcp-conformance"


def _results_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance_results", LOCKS / "results.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _installed() -> bool:
    return all(
        (CACHE / name / ".installed").is_file()
        and (CACHE / name / "package-lock.json").read_bytes()
        == (LOCKS / name / "package-lock.json").read_bytes()
        for name in ("node22", "suite")
    )


def test_expectations_list_every_failure_with_a_reason() -> None:
    expected = json.loads((LOCKS / "expected.json").read_text(encoding="utf-8"))
    for mode in ("client", "server"):
        scenarios = expected[mode]["scenarios"]
        assert len(scenarios) == len(set(scenarios))
        for name, reason in expected[mode]["fail"].items():
            assert name in scenarios, f"{mode} {name}: an expected failure the suite does not run"
            assert reason.strip(), f"{mode} {name}: an expected failure needs its reason"


def test_conformance_suite_results_match_the_expectations(tmp_path: Path) -> None:
    if not _installed():
        hint = "run scripts/mcp-conformance install (scripts/test does)"
        if os.environ.get("MUXI_TEST_CI"):
            pytest.fail(f"the conformance suite is not installed: {hint}")
        pytest.skip(f"the conformance suite is not installed: {hint}")
    if shutil.which("timeout") is None:
        pytest.skip("coreutils' timeout is needed")
    out = tmp_path / "conformance"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["MUXI_CONFORMANCE_PYTHON"] = sys.executable
    # Its own process group: a timeout stops the suite, its scenario servers,
    # the muxi clients and the scaffolded server together.
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), "all", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, f"scripts/mcp-conformance failed:\n{output[-3000:]}"

    results_mod = _results_module()
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    expected = json.loads((LOCKS / "expected.json").read_text(encoding="utf-8"))
    problems = results_mod.compare(results, expected)
    new_passes = [line for line in problems if "NEW PASS" in line]
    others = [line for line in problems if "NEW PASS" not in line]
    message = []
    if others:
        message += ["Regressions or missing scenarios:", *others]
    if new_passes:
        message += [
            "New passes: remove them from scripts/conformance/expected.json and update "
            "docs/mcp-conformance.md:",
            *new_passes,
        ]
    assert not problems, "\n".join(message)
