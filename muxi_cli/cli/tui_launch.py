"""Open the chat app (``muxi`` with no arguments, ``muxi chat`` with no message)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from muxi_cli.cli.state import CliState
    from muxi_cli.runtime.base import Runtime


def runtime_factory(
    profile: str | None, config_path: str | None
) -> Callable[[], Awaitable[Runtime]]:
    """The coroutine function the app calls (inside its own event loop) to open the runtime."""

    async def open_runtime() -> Runtime:
        import asyncio  # deferred: asyncio is slow to import

        from muxi_cli.runtime.factory import (  # deferred: keeps start-up light
            LOCAL,
            selected_profile,
        )
        from muxi_cli.runtime.factory import (
            open_runtime as open_rt,  # deferred: keeps start-up light
        )

        # Import the heavy runtime module off the event loop so the screen keeps drawing.
        module = (
            "muxi_cli.runtime.local"
            if selected_profile(profile) == LOCAL
            else "muxi_cli.runtime.remote"
        )
        try:
            await asyncio.to_thread(importlib.import_module, module)
        except ImportError:
            pass
        return await open_rt(profile=profile, config_path=config_path)

    return open_runtime


def _check_local_part(profile: str | None) -> None:
    """The chat app on the local profile runs agents here: without the local part
    that cannot work, so say which extra to install before the screen opens."""
    from muxi_cli import parts  # deferred: keeps start-up light

    if parts.has("local"):
        return
    from muxi_cli.runtime.factory import LOCAL, selected_profile  # deferred: keeps start-up light

    if selected_profile(profile) == LOCAL:
        parts.require("local", "the chat app on the local profile")


def launch_tui(
    state: CliState,
    *,
    session_id: str | None = None,
    agent: str | None = None,
    continue_last: bool = False,
) -> None:
    """Run the full-screen chat app until the user quits.

    Logging goes to a file first: anything written to stderr while the app runs
    would draw over the screen. The app opens the runtime itself (inside its own
    event loop, after the first frame) and closes it on the way out.
    """
    _check_local_part(state.profile)
    from muxi_cli.tui.logs import configure_file_logging  # deferred: keeps start-up light

    log_path = configure_file_logging()

    from muxi_cli.tui.app import MuxiApp  # deferred: loads asyncio, platformdirs, rich
    from muxi_cli.tui.history import PromptHistory, default_path  # deferred: keeps start-up light

    app = MuxiApp(
        runtime_factory(state.profile, state.config),
        session_id=session_id,
        agent=agent,
        config_path=state.config,
        log_path=str(log_path),
        history=PromptHistory(default_path()),
        continue_last=continue_last,
    )
    app.run()
