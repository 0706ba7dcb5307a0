"""Fixtures shared by the whole suite.

Every test runs with ``MUXI_HOME`` in a temp dir, no provider keys from the
developer's environment, and an in-memory keyring (the ``muxi`` processes a
test starts get the file keyring of tests/keyring_backend.py, chosen per
process with ``PYTHON_KEYRING_BACKEND``; the user's keyring is never used).

The session fails if it leaves child processes running (see
``pytest_sessionfinish``): every process a test starts must be stopped by a
fixture or a ``with`` block (tests/procs.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from muxi_cli.providers import table as provider_table
from tests.keyring_backend import FILE_BACKEND, MemoryKeyring

if TYPE_CHECKING:
    from tests.pgrig import PgServer

#: The checkout: subprocesses get it on PYTHONPATH to import tests.keyring_backend.
ROOT = Path(__file__).resolve().parent.parent

_PROVIDER_ENV = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "MUXI_PROFILE",
    "MUXI_CONFIG",
    "MUXI_API_KEY",
    "MUXI_ADMIN_KEY",
    "MUXI_MEDIA_URL",
    "MUXI_DATABASE_URL",
)


@pytest.fixture(autouse=True)
def muxi_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "muxi-home"
    home.mkdir()
    monkeypatch.setenv("MUXI_HOME", str(home))
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    # A developer's own keys and servers for any provider in the table stay out too.
    for spec in provider_table.specs():
        for name in (spec.key_env, spec.base_url_env, f"{spec.name.upper()}_API_KEY"):
            if name:
                monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    # A developer's collector stays out: telemetry is on only where a test turns it on.
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name, raising=False)
    # Never auto-detect a developer's local Ollama from tests.
    monkeypatch.setenv("MUXI_NO_OLLAMA_PROBE", "1")
    monkeypatch.setenv("LANCEDB_LOG", "error")
    # Subprocesses get a test keyring: a JSON file in the temp home.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FILE_BACKEND)
    monkeypatch.setenv("PYTHONPATH", with_root_on_path(os.environ.get("PYTHONPATH")))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    # No warm hosts unless a test asks for one (tests/host): every other test runs
    # in-process, and nothing starts a daemon by accident.
    monkeypatch.setenv("MUXI_HOST", "off")
    monkeypatch.chdir(tmp_path)
    yield home


@pytest.fixture(autouse=True)
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, short runtime folder per test (socket paths must stay < 100 bytes);
    every host started in it is stopped at teardown, however the test ended."""
    import shutil
    import tempfile

    from tests.hosts import stop_hosts_in

    path = Path(tempfile.mkdtemp(prefix="muxirt-"))  # 0700
    monkeypatch.setenv("MUXI_RUNTIME_DIR", str(path))
    try:
        yield path
    finally:
        stop_hosts_in(path)
        shutil.rmtree(path, ignore_errors=True)


def with_root_on_path(pythonpath: str | None) -> str:
    """``PYTHONPATH`` with the checkout first (once)."""
    parts = [p for p in (pythonpath or "").split(os.pathsep) if p and p != str(ROOT)]
    return os.pathsep.join([str(ROOT), *parts])


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[None]:
    """An in-process in-memory keyring, so no test touches a real one."""
    import keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield
    keyring.set_keyring(previous)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Bytes parameters are not named by their content: files built at collection
    time (an Office file's zip carries its build time, even its length varies)
    would give each xdist worker different test ids, and xdist refuses to run a
    suite whose workers collected different tests. pytest numbers the repeats."""
    if isinstance(val, bytes | bytearray):
        return argname
    return None


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("LANCEDB_LOG", "error")


# --------------------------------------------------------------- no process left behind

#: pid -> the test during which it was first seen (to name the culprit at the end).
_SEEN_DURING: dict[int, str] = {}


@pytest.fixture(autouse=True)
def _note_new_children(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remember which test a still-running child process appeared in (cheap: no waiting).

    Requested first (autouse), so it is torn down after the test's own
    fixtures have stopped their processes.
    """
    from tests.procs import children

    before = children()
    yield
    for pid in children() - before:
        _SEEN_DURING.setdefault(pid, request.node.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process it started is still running, naming each one."""
    from tests.procs import describe, kill_all, leftover_children

    if getattr(session.config.option, "numprocesses", None) and not hasattr(
        session.config, "workerinput"
    ):
        return  # the xdist controller: each worker checks its own children
    left = leftover_children()
    if not left:
        return
    lines = [
        f"  {describe(pid)} (started during {_SEEN_DURING.get(pid, 'an unknown test')})"
        for pid in left
    ]
    kill_all(left)
    message = (
        "the test run left child processes running (now killed); stop every process in a "
        "fixture or a `with` block (tests/procs.py):\n" + "\n".join(lines)
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        reporter.write_line(message, red=True, bold=True)
    else:  # pragma: no cover - always there in a normal run
        import sys

        print(message, file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


from tests.fakellm import FakeLLM  # noqa: E402  (stdlib only, cheap)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A local fake LLM server (OpenAI + Anthropic wire formats); see tests/fakellm.py."""
    server = FakeLLM()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def module_llm() -> Iterator[FakeLLM]:
    """One fake LLM server for a whole test module (for module-scoped servers that use it)."""
    server = FakeLLM()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server per test process (tests/pgrig.py); skips without one."""
    from tests.pgrig import PgServer, pg_bin_dir

    if pg_bin_dir() is None:
        if os.environ.get("MUXI_TEST_CI"):
            pytest.fail("PostgreSQL is not installed: scripts/os-packages should have done it")
        pytest.skip("PostgreSQL server binaries are not installed (scripts/os-packages)")
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)
