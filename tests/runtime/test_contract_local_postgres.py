"""The Runtime contract against LocalRuntime with its sessions and run records in
PostgreSQL (``LocalRuntime.open(database_url=...)``), and the selection itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from muxi_cli.protocol.records import ChatRequest
from tests.fakellm import FakeLLM, Text
from tests.runtime.contract import Harness, RuntimeContract, formation_yaml


@pytest.fixture
async def harness(fake_llm: FakeLLM, tmp_path: Path, pg_url: str) -> AsyncIterator[Harness]:
    from muxi_cli.runtime.local import LocalRuntime

    path = tmp_path / "muxi.yaml"
    path.write_text(formation_yaml(fake_llm), encoding="utf-8")
    runtime = await LocalRuntime.open(config_path=path, start_tools=True, database_url=pg_url)
    try:
        yield Harness(runtime, fake_llm, "local")
    finally:
        await runtime.aclose()


class TestLocalRuntimeContractOnPostgres(RuntimeContract):
    pass


async def test_the_url_from_the_environment_selects_postgresql(
    fake_llm: FakeLLM, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from muxi_cli.runtime.local import LocalRuntime
    from muxi_cli.stores.pg_sessions import PgSessionStore

    monkeypatch.setenv("MUXI_DATABASE_URL", pg_url)
    runtime = await LocalRuntime.open(config_path=fake_llm.write_formation(tmp_path))
    try:
        assert isinstance(runtime.store, PgSessionStore) and runtime.runs.path == pg_url
        fake_llm.script(Text("hello"))
        turn = await runtime.chat(ChatRequest(message="hi"))
        [e async for e in turn.events()]
        stats = await runtime.stats()
        assert (stats.totals.turns, stats.totals.users) == (1, 1)
    finally:
        await runtime.aclose()
    monkeypatch.delenv("MUXI_DATABASE_URL")
    plain = await LocalRuntime.open(config_path=fake_llm.write_formation(tmp_path))
    try:
        assert type(plain.store).__name__ == "SessionStore"
        assert await plain.sessions() == []  # the SQLite file: none of PostgreSQL's sessions
    finally:
        await plain.aclose()
