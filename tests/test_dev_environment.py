"""The test command keeps to its own environment, keyring and processes.

- ``scripts/test`` (and ``.ci/run``, which calls it) builds and uses
  ``.venv-dev``, never the ``.venv`` of the README's install command;
- the dev extra does not install a package that switches every program in the
  environment to another keyring; test processes pick theirs one by one;
- a run that leaves a child process behind fails, naming it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from tests.conftest import ROOT
from tests.keyring_backend import FILE_BACKEND, FILE_NAME

# A stand-in for python3: `-m venv DIR` makes DIR/bin with tools that only log
# how they were called, so the real scripts run in a second and install nothing.
_FAKE_PYTHON = textwrap.dedent(
    """\
    #!/usr/bin/env bash
    set -eu
    echo "python3 $*" >> "$CALLS"
    if [ "${1:-}" = "-m" ] && [ "${2:-}" = "venv" ]; then
      mkdir -p "$3/bin"
      for tool in python ruff mypy lint-imports pytest; do
        printf '#!/usr/bin/env bash\\necho "$0 $*" >> "$CALLS"\\n' > "$3/bin/$tool"
        chmod +x "$3/bin/$tool"
      done
    fi
    """
)


def _checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the scripts next to a user's ``.venv``; returns (checkout, fake python)."""
    checkout = tmp_path / "checkout"
    for rel in ("scripts/test", "scripts/os-packages", "scripts/package-check", ".ci/run",
                "README.md"):  # fmt: skip
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, checkout / rel)
    user_venv = checkout / ".venv"
    (user_venv / "bin").mkdir(parents=True)
    (user_venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (user_venv / "bin" / "muxi").write_text("#!/bin/sh\necho the user's muxi\n")
    fake = tmp_path / "fake-python3"
    fake.write_text(_FAKE_PYTHON)
    fake.chmod(0o755)
    return checkout, fake


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


def _run(checkout: Path, fake: Path, *command: str) -> list[str]:
    calls = checkout.parent / "calls.log"
    calls.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "MUXI_DEV_VENV"}
    env.update(PYTHON=str(fake), CALLS=str(calls), CI="true")
    done = subprocess.run(
        ["bash", *command],
        cwd=checkout,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return calls.read_text().splitlines()


def test_the_test_command_never_touches_the_install_venv(tmp_path: Path) -> None:
    checkout, fake = _checkout(tmp_path)
    before = _snapshot(checkout / ".venv")
    calls = _run(checkout, fake, "scripts/test", "-k", "routing")

    assert _snapshot(checkout / ".venv") == before
    dev = str(checkout / ".venv-dev" / "bin")
    assert calls[0] == "python3 -m venv .venv-dev"
    tools = calls[1:]
    assert all(c.startswith((".venv-dev/bin/", dev)) for c in tools), tools
    assert any(
        c.endswith("-m pip install --quiet --disable-pip-version-check -e .[dev,bench]")
        for c in tools
    )
    assert tools[-1].endswith("pytest -n 2 -k routing")
    assert not any("package_check" in c for c in calls), "only a full run checks the packages"
    assert not any(".venv/" in c for c in calls), calls


def test_ci_runs_the_readme_test_command(tmp_path: Path) -> None:
    checkout, fake = _checkout(tmp_path)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    top = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "scripts/test" in top and ".venv-dev" in top

    via_ci = _run(checkout, fake, ".ci/run")  # a fresh clone: creates .venv-dev
    direct = _run(checkout, fake, "scripts/test")  # then reuses it
    assert via_ci == ["python3 -m venv .venv-dev", *direct]
    assert via_ci[-1].strip() == ".venv-dev/bin/pytest -n 2"
    # A full run builds and installs the packages (scripts/package-check) just before pytest.
    assert via_ci[-2].endswith(".venv-dev/bin/python scripts/package_check.py")


def test_the_dev_extra_leaves_the_keyring_alone() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dev = " ".join(pyproject["project"]["optional-dependencies"]["dev"]).lower()
    # keyrings.alt would become the keyring of every program in the environment.
    assert "keyrings.alt" not in dev and "keyrings-alt" not in dev
    assert ".venv-dev/" in (ROOT / ".gitignore").read_text().splitlines()


def test_muxi_processes_use_the_test_keyring(muxi_home: Path) -> None:
    env = dict(os.environ)  # what every test hands its subprocesses (tests/conftest.py)
    assert env["PYTHON_KEYRING_BACKEND"] == FILE_BACKEND
    muxi = [sys.executable, "-m", "muxi_cli"]
    stored = subprocess.run(
        [*muxi, "keys", "set", "anthropic"],
        input="sk-ant-test-0123456789\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stored.returncode == 0, stored.stderr
    assert FILE_BACKEND in stored.stderr
    assert "sk-ant-test-0123456789" in (muxi_home / FILE_NAME).read_text()

    listed = subprocess.run(
        [*muxi, "keys", "list", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert '"source": "keyring"' in listed.stdout, listed.stdout + listed.stderr


_LEAKY = textwrap.dedent(
    """\
    import subprocess

    def test_forgets_its_process():
        subprocess.Popen(["sleep", "120"])

    def test_stops_its_process():
        proc = subprocess.Popen(["sleep", "120"])
        proc.terminate()
        proc.wait()
    """
)


def test_a_run_that_leaves_a_process_fails_naming_it(tmp_path: Path) -> None:
    suite = tmp_path / "leaky"
    suite.mkdir()
    (suite / "conftest.py").write_text(
        "from tests.conftest import _note_new_children, pytest_sessionfinish  # noqa: F401\n"
    )
    (suite / "test_leaky.py").write_text(_LEAKY)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "2 passed" in out and "left child processes running" in out
    assert "sleep 120 (started during test_leaky.py::test_forgets_its_process)" in out
    assert out.count("sleep 120") == 1
