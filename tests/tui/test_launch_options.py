"""How the app starts: --continue, and connection notices of a remote runtime."""

from __future__ import annotations

from tests.tui.conftest import SIZE, make_app, until
from tests.tui.fake_runtime import FakeRuntime


async def test_continue_last_opens_the_newest_session(fake: FakeRuntime) -> None:
    fake.add_session("older", [("first question", "first answer")])
    newest = fake.add_session("newest", [("latest question", "latest answer")])
    app = make_app(fake, continue_last=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.session_id == newest, "the newest session to open")


async def test_continue_last_without_sessions_starts_fresh(fake: FakeRuntime) -> None:
    app = make_app(fake, continue_last=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.runtime is not None, "the runtime")
        await pilot.pause(0.1)
        assert app.session_id is None


async def test_remote_connection_notices_are_shown(fake: FakeRuntime) -> None:
    handlers: list = []
    fake.set_notice_handler = handlers.append  # type: ignore[attr-defined]
    app = make_app(fake)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(handlers), "the notice handler to be set")
        handlers[0]("lost the connection; reconnecting in 0.2 s")
        await until(
            pilot,
            lambda: any("reconnecting" in str(n.message) for n in app._notifications),
            "the toast",
        )
