"""`muxi chat --continue` with no message opens the app on the latest session."""

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
