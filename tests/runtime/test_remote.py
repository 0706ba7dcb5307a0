"""RemoteRuntime and profiles: wire parsing, error mapping, connection failures."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from muxi_cli import paths
from muxi_cli.errors import (
    ConnectionFailedError,
    MuxiError,
    NotFoundError,
    ServerAuthError,
    UsageError,
)
from muxi_cli.protocol.events import RunFailed
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime import profiles
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.runtime.wire import error_from_body, iter_sse
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.server_keys import KeyStore
from tests.net import free_port
from tests.server.conftest import start_server, stop_server
from tests.server.fakeruntime import FakeRuntime, Script


async def _lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def test_sse_parsing() -> None:
    lines = _lines(
        ": keep-alive",
        "",
        'data: {"a": 1}',
        "",
        "event: x",
        "data: line1",
        "data: line2\r",
        "",
        "id: 3",
        "data:no-space",
        "",
    )
    assert [d async for d in iter_sse(lines)] == ['{"a": 1}', "line1\nline2", "no-space"]
    assert [d async for d in iter_sse(_lines("data: tail"))] == ["tail"]


def test_error_mapping() -> None:
    err = error_from_body(
        404, b'{"error": {"code": "not_found", "message": "no session", "hint": "h"}}'
    )
    assert isinstance(err, NotFoundError) and err.message == "no session" and err.hint == "h"
    assert isinstance(error_from_body(401, b"<html>"), ServerAuthError)
    odd = error_from_body(502, b"<html>bad gateway</html>", "http://x")
    assert type(odd) is MuxiError and "502" in odd.message and odd.hint
    custom = error_from_body(418, b'{"error": {"code": "teapot", "message": "short and stout"}}')
    assert custom.code == "teapot"


async def test_unreachable_server_is_a_clear_error() -> None:
    notices: list[str] = []
    rt = RemoteRuntime(
        f"http://127.0.0.1:{free_port()}", "k", on_notice=notices.append, reconnect_attempts=2
    )
    try:
        with pytest.raises(ConnectionFailedError) as info:
            await rt.agents()
        assert "cannot reach" in info.value.message and info.value.hint
        with pytest.raises(ConnectionFailedError):
            [e async for e in (await rt.chat(ChatRequest(message="x"))).events()]
        with pytest.raises(ConnectionFailedError):
            [
                e
                async for e in (
                    await rt.chat(ChatRequest(message="x", approval="interactive"))
                ).events()
            ]
        assert any("retrying" in n for n in notices), notices
    finally:
        await rt.aclose()


async def test_sse_turn_lost_mid_stream_ends_with_connection_failed(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    keys = KeyStore(tmp_path / "k.json")
    _, key = keys.create("user", "alice")
    hold = asyncio.Event()
    runtime.script(Script(text="cut here please", hold=hold))
    url, server, task = await start_server(runtime, keys, ServerSettings(rate=0, shutdown_grace=0))
    notices: list[str] = []
    rt = RemoteRuntime(url, key, label="lost", on_notice=notices.append)
    try:
        events = []
        async for event in (await rt.chat(ChatRequest(message="go"))).events():
            events.append(event)
            if event.type == "text.delta":
                server.force_exit = True  # a crash-like stop: no goodbye
                server.should_exit = True
        assert events[-1].type == "run.failed"
        assert isinstance(events[-1], RunFailed)
        assert events[-1].code in ("connection_failed", "cancelled")
    finally:
        await rt.aclose()
        await asyncio.wait_for(task, 20)
    _ = stop_server


async def test_open_profile_needs_a_known_profile_and_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(NotFoundError) as info:
        await RemoteRuntime.open_profile("nope")
    assert "muxi profile add nope" in (info.value.hint or "")
    profiles.add_profile("prod", "http://127.0.0.1:9/")
    with pytest.raises(ServerAuthError):
        await RemoteRuntime.open_profile("prod")
    monkeypatch.setenv("MUXI_API_KEY", "from-env")
    rt = await RemoteRuntime.open_profile("prod")
    assert (
        rt.label == "prod" and rt.url == "http://127.0.0.1:9" and rt._server.api_key == "from-env"
    )
    profiles.store_key("prod", "from-keyring")
    rt2 = await RemoteRuntime.open_profile("prod")
    assert rt2._server.api_key == "from-keyring"
    await rt.aclose()
    await rt2.aclose()


def test_profiles_file_holds_no_secret_and_is_private() -> None:
    assert profiles.active_profile_name() is None
    assert [p.name for p in profiles.list_profiles()] == ["local"]
    profiles.add_profile("prod", "https://muxi.example.net/v1", "production")
    profiles.store_key("prod", "muxi_abcdef0123_supersecret")
    profiles.add_profile("dev", "http://localhost:8765")
    path = paths.profiles_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "supersecret" not in path.read_text()
    assert [p.name for p in profiles.list_profiles()] == ["local", "dev", "prod"]
    assert profiles.get_profile("prod").url == "https://muxi.example.net"
    profiles.use_profile("prod")
    assert profiles.active_profile_name() == "prod"
    profiles.use_profile("local")
    assert profiles.active_profile_name() is None
    profiles.use_profile("prod")
    assert profiles.remove_profile("prod") is True
    assert profiles.active_profile_name() is None
    assert profiles.profile_key("prod") == (None, "none")


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("local", "http://x"),
        ("1bad", "http://x"),
        ("ok", "ftp://x"),
        ("ok", "no-scheme"),
        ("a b", "http://x"),
    ],
)
def test_profile_validation(name: str, url: str) -> None:
    with pytest.raises(UsageError):
        profiles.add_profile(name, url)


def test_factory_picks_the_active_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    from muxi_cli.runtime.factory import selected_profile

    assert selected_profile(None) == "local"
    profiles.add_profile("prod", "http://127.0.0.1:9")
    profiles.use_profile("prod")
    assert selected_profile(None) == "prod"
    monkeypatch.setenv("MUXI_PROFILE", "other")
    assert selected_profile(None) == "other"
    assert selected_profile("explicit") == "explicit"


def test_a_broken_profiles_file_is_a_config_error() -> None:
    from muxi_cli.errors import ConfigError

    paths.write_private(paths.profiles_path(), "profiles: [1, 2\n")
    with pytest.raises(ConfigError):
        profiles.list_profiles()
    assert profiles.active_profile_name() is None  # never crashes a plain command
