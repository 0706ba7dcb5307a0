"""Long sessions: only a window of entries is mounted; older ones load on demand."""

from __future__ import annotations

from muxi_cli.tui.model import NoteRecord, ReplyRecord, UserRecord
from muxi_cli.tui.widgets.transcript import PAGE, EarlierBanner
from tests.tui.conftest import SIZE, idle, make_app, ready, send, until
from tests.tui.fake_runtime import FakeRuntime


async def test_a_500_message_session_mounts_only_a_page() -> None:
    fake = FakeRuntime()
    sid = fake.add_session("Long", [(f"question {i}", f"answer **{i}**") for i in range(250)])
    app = make_app(fake, session_id=sid)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        transcript = app.chat.transcript
        await until(pilot, lambda: len(transcript.records) == 500, "the session")
        assert len(transcript.views) == PAGE
        assert transcript.hidden_count == 500 - PAGE
        banner = transcript.query_one(EarlierBanner)
        assert banner.display and f"{500 - PAGE} earlier messages" in str(banner.render())
        last = transcript.views[-1].record
        assert isinstance(last, ReplyRecord) and last.text == "answer **249**"

        # Scrolling to the top loads the previous page, keeping what is on screen.
        await until(pilot, lambda: transcript.max_scroll_y > 0, "a scrollable transcript")
        transcript.scroll_home(animate=False, immediate=True)
        await until(pilot, lambda: transcript.hidden_count == 500 - 2 * PAGE, "the earlier page")
        await until(pilot, lambda: transcript.scroll_y > 0, "the kept position")
        assert len(transcript.views) == 2 * PAGE
        first = transcript.views[0].record
        assert isinstance(first, UserRecord) and first.text == f"question {(500 - 2 * PAGE) // 2}"
        assert transcript.scroll_y > 0  # the view did not jump to the new top

        # New messages go on working and the window stays bounded (a small window keeps this quick).
        transcript.window = 12
        transcript.anchor()
        for i in range(8):
            await send(pilot, f"more {i}")
            await idle(pilot)
        assert len(transcript.views) <= 12 + 2
        assert len(transcript.records) == 500 + 16
        assert transcript.hidden_count == len(transcript.records) - len(transcript.views)


async def test_copy_mode_walks_into_older_entries() -> None:
    fake = FakeRuntime()
    sid = fake.add_session("Long", [(f"q{i}", f"a{i}") for i in range(30)])
    app = make_app(fake, session_id=sid)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        transcript = app.chat.transcript
        await until(pilot, lambda: len(transcript.records) == 60, "the session")
        await pilot.press("ctrl+up")
        assert app.focused is transcript.views[-1]
        first = transcript.views[0]
        assert first.record is transcript.records[60 - PAGE]
        first.focus()
        await pilot.press("up")  # past the first mounted entry: older entries load
        assert len(transcript.views) > PAGE
        assert app.focused.record is transcript.records[60 - PAGE - 1]
        await pilot.press("c")
        assert app.clipboard == app.focused.record.text == "a19"


async def test_clear_and_notes() -> None:
    app = make_app(FakeRuntime())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        transcript = app.chat.transcript
        assert transcript._welcome.display
        await transcript.add(NoteRecord("hello"))
        assert not transcript._welcome.display
        await transcript.clear()
        assert transcript._welcome.display and transcript.views == []
