"""The chat app of an installed muxi, headless: open it against a profile, send
one message, wait for the reply on screen (part of scripts/package-check).

Run by a venv's own Python (not the dev venv's), so it imports only the
installed muxi_cli and Textual: it drives the app the way tests/tui/ do
(``App.run_test``), through the same runtime factory ``muxi`` uses, and exits
0 when the reply is shown, 1 (with what the screen showed) otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

#: Bound on every wait: the runtime opening and the reply arriving.
TIMEOUT = 60.0


async def until(pilot: Any, predicate: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {TIMEOUT} s waiting for {what}")
        await pilot.pause(0.05)


def screen_text(app: Any) -> str:
    from textual.widgets import Markdown, Static

    parts: list[str] = []
    for widget in app.chat.transcript.query("*"):
        if isinstance(widget, Markdown):
            parts.append(widget.source)
        elif isinstance(widget, Static):
            parts.append(str(widget.render()))
    return "\n".join(parts)


async def main(profile: str, message: str, expect: str) -> int:
    from muxi_cli.cli.tui_launch import runtime_factory
    from muxi_cli.tui.app import MuxiApp

    app = MuxiApp(runtime_factory(profile, None), cursor_blink=False, offer_setup=False)
    async with app.run_test(size=(100, 40)) as pilot:
        try:
            await until(
                pilot,
                lambda: app._settled.is_set() and app._chat is not None and app.screen is app._chat,
                "the chat screen",
            )
            if app.connect_error is not None:
                print(f"could not connect: {app.connect_error}", file=sys.stderr)
                return 1
            app.chat.prompt.focus()
            app.chat.prompt.load_text(message)
            await pilot.press("enter")
            await until(pilot, lambda: expect in screen_text(app), f"the reply {expect!r}")
            await until(pilot, lambda: not app.chat.busy, "the turn to end")
        except TimeoutError as exc:
            shown = screen_text(app) if app._chat is not None else f"screen {app.screen!r}"
            print(f"{exc}\nthe transcript showed:\n{shown[-2000:]}", file=sys.stderr)
            return 1
    print(f"chat app: {expect!r} shown")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--message", required=True)
    parser.add_argument("--expect", required=True)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.profile, args.message, args.expect)))
