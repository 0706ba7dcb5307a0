"""The server's own log: one stderr handler, redacting, however often a process serves.

`serve_runtime` added a redacting handler of its own next to the rate-limited one
that `logfilter.install` keeps, so every `muxi.server` line after start-up went to
stderr twice, once without redaction (a provider key quoted in an error printed in
the clear), and a process that served twice (the tests, an embedding program) added
one more handler each time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.server_keys import KeyStore
from tests.server.conftest import start_server, stop_server
from tests.server.fakeruntime import FakeRuntime

SECRET = "sk-ant-api03-" + "q" * 24


async def _serve_once(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.json", env_admin_key="")
    _, server, task = await start_server(FakeRuntime(), keys, ServerSettings())
    try:
        logging.getLogger("muxi.server").warning("the provider said: bad key %s", SECRET)
    finally:
        await stop_server(server, task)


async def test_a_server_log_line_goes_out_once_and_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server_log = logging.getLogger("muxi.server")
    # Handlers an earlier test installed write to its (closed) capture: start clean.
    monkeypatch.setattr(server_log, "handlers", [])
    await _serve_once(tmp_path)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "the provider said" in line]
    assert len(lines) == 1, err
    assert SECRET not in err and "redacted" in lines[0]


async def test_serving_again_adds_no_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_log = logging.getLogger("muxi.server")
    monkeypatch.setattr(server_log, "handlers", [])
    await _serve_once(tmp_path / "a")
    first = list(server_log.handlers)
    await _serve_once(tmp_path / "b")
    assert server_log.handlers == first and len(first) == 1
