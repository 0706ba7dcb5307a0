"""Helpers for the TUI tests: a fake runtime, an app factory, condition waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from muxi_cli.tui.app import MuxiApp
from tests.tui.fake_runtime import FakeRuntime

SIZE = (100, 40)


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime()


def make_app(runtime: Any, **kwargs: Any) -> MuxiApp:
    kwargs.setdefault("cursor_blink", False)
    return MuxiApp(runtime=runtime, **kwargs)


async def until(
    pilot: Pilot[Any],
    predicate: Callable[[], object],
    what: str = "condition",
    timeout: float = 10.0,
) -> None:
    """Let the app run until ``predicate()`` is true (AssertionError after ``timeout`` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


async def ready(pilot: Pilot[Any]) -> MuxiApp:
    """Wait until the runtime is open and the chat screen is up."""
    app = pilot.app
    assert isinstance(app, MuxiApp)
    await until(
        pilot,
        lambda: app._settled.is_set() and app._chat is not None and app.screen is app._chat,
        "the chat screen",
    )
    await pilot.pause()
    return app


async def send(pilot: Pilot[Any], text: str) -> None:
    app = pilot.app
    assert isinstance(app, MuxiApp)
    app.chat.prompt.focus()
    app.chat.prompt.load_text(text)
    await pilot.press("enter")


async def idle(pilot: Pilot[Any]) -> None:
    """Wait until no reply is running."""
    app = pilot.app
    assert isinstance(app, MuxiApp)
    await until(pilot, lambda: not app.chat.busy, "the reply to finish")
    await pilot.pause()


def screen_text(app: MuxiApp) -> str:
    """Plain text of everything rendered in the transcript (for content assertions)."""
    from textual.widgets import Markdown, Static

    parts: list[str] = []
    for widget in app.chat.transcript.query("*"):
        if isinstance(widget, Markdown):
            parts.append(widget.source)
        elif isinstance(widget, Static):
            parts.append(str(widget.render()))
    return "\n".join(parts)
