"""The main screen: transcript, input, status bar; runs turns."""

from __future__ import annotations

import asyncio
import difflib
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from muxi_cli.protocol.mentions import leading_mention, split_mention
from muxi_cli.tui import commands
from muxi_cli.tui.completer import Candidate, Sources, complete
from muxi_cli.tui.model import ErrorRecord, NoteRecord, ReplyRecord, Usage, UserRecord
from muxi_cli.tui.screens.chat_commands import ChatCommands
from muxi_cli.tui.screens.chat_media import ChatMedia
from muxi_cli.tui.widgets.approval import ApprovalPrompt
from muxi_cli.tui.widgets.attachments import AttachmentBar
from muxi_cli.tui.widgets.completion import CompletionMenu
from muxi_cli.tui.widgets.messages import MessageView
from muxi_cli.tui.widgets.prompt import PromptInput
from muxi_cli.tui.widgets.status_bar import StatusBar
from muxi_cli.tui.widgets.transcript import Transcript
from muxi_cli.tui.widgets.working import Working

if TYPE_CHECKING:
    from muxi_cli.protocol.events import ElicitationRequested
    from muxi_cli.protocol.records import Attachment
    from muxi_cli.tui.app import MuxiApp
    from muxi_cli.tui.files import Pending
    from muxi_cli.tui.turn import Turn
    from muxi_cli.tui.widgets.reply import ReplyView

log = logging.getLogger(__name__)


PLACEHOLDER = (
    "Message muxi · Enter send · Shift+Enter / Ctrl+J new line · / commands · @ agents · F1 help"
)


class ChatScreen(ChatCommands, ChatMedia, Screen[None]):
    AUTO_FOCUS = "#prompt"

    DEFAULT_CSS = """
    ChatScreen { layout: vertical; }
    ChatScreen Footer { background: $panel; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "new_session", "New", priority=True),
        Binding("ctrl+o", "sessions", "Sessions", priority=True),
        Binding("ctrl+g", "pick_agent", "Agent", priority=True),
        Binding("ctrl+t", "app.change_theme", "Theme", show=False),
        Binding("f1", "help", "Help"),
        Binding("f2", "dashboard", "Dashboard", show=False),
        Binding("escape", "cancel_reply", "Cancel", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sources = Sources()
        self.turn: Turn | None = None
        self._turn_worker: Worker[None] | None = None
        self._pending_prompt: str | None = None
        #: A message starting with an unknown @name that was warned about once; sending
        #: the very same text again sends it as plain text.
        self._warned_mention: str | None = None
        #: MCP resources attached with /mcp read, sent with the next message.
        self._attachments: list[Attachment] = []
        #: The chips of the message being sent, put back if its turn fails.
        self._sent_items: list[Pending] = []

    @property
    def muxi(self) -> MuxiApp:
        return self.app  # type: ignore[return-value,unused-ignore]

    def compose(self) -> ComposeResult:
        menu = CompletionMenu(id="completion")
        yield Transcript(id="transcript")
        yield Working(id="working")
        yield menu
        yield AttachmentBar(id="attachments")
        yield PromptInput(
            history=self.muxi.history,
            completer=self._complete,
            menu=menu,
            placeholder=PLACEHOLDER,
            attachments_waiting=lambda: bool(self.attachment_bar.items),
            id="prompt",
        )
        yield StatusBar(self.muxi.status, id="status")
        yield Footer()

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def working(self) -> Working:
        return self.query_one(Working)

    @property
    def busy(self) -> bool:
        return self._turn_worker is not None and self._turn_worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

    def _complete(self, text: str, row: int, col: int) -> list[Candidate]:
        self.sources.themes = sorted(self.app.available_themes)
        return complete(text, row, col, self.sources)

    def on_mount(self) -> None:
        self.prompt.focus()
        apply = getattr(self.app, "apply_blink", None)
        if apply is not None:
            apply(self)

    async def on_unmount(self) -> None:
        await self.stop_speaking()  # the player is this app's child: it goes with it

    # -- notes ------------------------------------------------------------------------

    async def note(self, text: str, kind: str = "info") -> None:
        await self.transcript.add(NoteRecord(text, "warning" if kind == "warning" else "info"))

    async def show_error(self, message: str, hint: str | None = None, code: str = "error") -> None:
        await self.transcript.add(ErrorRecord(message, hint, code))

    # -- input --------------------------------------------------------------------------

    async def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        text = event.text
        parsed = commands.parse(text)
        if parsed is not None:
            self.prompt.prompt_history.add(text.strip())
            self.prompt.clear_input()
            name, args = parsed
            ok = await self.run_command(name, args)
            if not ok:
                self.prompt.set_text(text)
            return
        if text.strip().startswith("//"):
            text = text.strip()[1:]
        await self.send(text)

    def on_prompt_input_cancel_requested(self, event: PromptInput.CancelRequested) -> None:
        event.stop()
        self.action_cancel_reply()

    def on_prompt_input_focus_transcript(self, event: PromptInput.FocusTranscript) -> None:
        event.stop()
        views = self.transcript.views
        if views:
            views[-1].focus()
            views[-1].scroll_visible(animate=False)

    def on_prompt_input_scroll_transcript(self, event: PromptInput.ScrollTranscript) -> None:
        event.stop()
        if event.pages < 0:
            self.transcript.scroll_page_up(animate=False)
        else:
            self.transcript.scroll_page_down(animate=False)

    async def on_message_view_step(self, event: MessageView.Step) -> None:
        event.stop()
        target = self.transcript.step_from(event.view, event.delta)
        if target is None and event.delta < 0 and await self.transcript.load_earlier():
            target = self.transcript.step_from(event.view, event.delta)
        if target is None:
            if event.delta > 0:
                self.prompt.focus()
            return
        target.focus()
        target.scroll_visible(animate=False)

    def on_message_view_leave(self, event: MessageView.Leave) -> None:
        event.stop()
        self.prompt.focus()

    # -- turns --------------------------------------------------------------------------

    def _split_mention(self, text: str) -> tuple[str | None, str]:
        agent, rest = split_mention(text.strip(), self.sources.agents)
        if agent is not None and rest.strip():
            return agent, rest
        return None, text  # "@coder" alone is sent as text (the turn says it is empty)

    def _unknown_mention(self, text: str) -> str | None:
        """The ``@name`` a message starts with when no agent has that name."""
        mention = leading_mention(text)
        agents = self.sources.agents
        if mention is None or not agents or mention.name in agents:
            return None
        return mention.name

    async def _warn_unknown_mention(self, text: str) -> bool:
        """Warn (once per text) about an unknown ``@name`` instead of sending; True if warned."""
        name = self._unknown_mention(text)
        if name is None or text == self._warned_mention:
            self._warned_mention = None
            return False
        self._warned_mention = text
        agents = list(self.sources.agents)
        # The nearest name, however far: a typo is the usual cause.
        near = difflib.get_close_matches(name, agents, n=1, cutoff=0.0)
        nearest = f" The nearest is @{near[0]}." if near else ""
        await self.note(
            f"No agent named @{name}; nothing was sent.{nearest} Agents: "
            f"{', '.join(agents)}. Fix the name, or press Enter again to send the text as it is.",
            "warning",
        )
        return True

    async def send(self, text: str) -> None:
        if self.busy:
            self.notify("A reply is still running: Esc cancels it.", severity="warning")
            return
        if self.muxi.connect_error is not None:
            err = self.muxi.connect_error
            await self.show_error(err.message, err.hint, err.code)
            return
        if await self._warn_unknown_mention(text):
            return
        agent, message = self._split_mention(text)
        items = list(self.attachment_bar.items)
        if items:  # the files go first; the message is shown once they are taken
            self._turn_worker = self.run_worker(
                self.send_with_files(text, agent, message, items), group="turn", exclusive=True
            )
            return
        view = await self._begin(text, UserRecord(message, agent))
        self._turn_worker = self.run_worker(
            self._run_turn(message, agent, view), group="turn", exclusive=True
        )

    async def _begin(self, text: str, record: UserRecord) -> ReplyView:
        """Show the message and an empty reply; the input is cleared."""
        self.prompt.prompt_history.add(text)
        self.prompt.clear_input()
        await self.transcript.add(record)
        reply = ReplyRecord(agent=record.agent or self.muxi.agent)
        view: ReplyView = await self.transcript.add(reply, live=True)  # type: ignore[assignment]
        self.transcript.anchor()
        self._pending_prompt = text
        self.prompt.add_class("-busy")
        self.working.start("connecting…" if self.muxi.runtime is None else "thinking…")
        return view

    async def _run_turn(self, message: str, agent: str | None, view: ReplyView) -> None:
        self.turn = None
        try:
            runtime = await self.muxi.wait_runtime()
        except asyncio.CancelledError:
            await view.finish("cancelled")
            self._turn_done("cancelled")
            raise
        if runtime is None:
            err = self.muxi.connect_error
            await view.finish(
                "failed",
                error=ErrorRecord(err.message, err.hint, err.code)
                if err
                else ErrorRecord("not connected"),
            )
            self._turn_done("failed")
            return
        # deferred: the records, event classes and reducer (~25 ms) load with the
        # first turn, not before the app's first frame
        from muxi_cli.protocol.records import ChatRequest
        from muxi_cli.tui.turn import Turn, TurnHooks

        self.working.set_label("thinking…")
        attachments, self._attachments = self._attachments, []
        request = ChatRequest(
            message=message,
            agent=agent or self.muxi.agent,
            session_id=self.muxi.session_id,
            approval="interactive",
            model=self.muxi.model_override,
            attachments=attachments,
        )
        before = self.muxi.usage  # the session's usage until this turn
        hooks = TurnHooks(
            session=self._on_session,
            usage=lambda turn: self._on_usage(before, turn),
            approval=self._on_approval,
            elicit=self._on_elicit,
            routed=lambda name: self.working.set_label(f"{name} is replying…"),
            notice=lambda message: self.notify(message, title="Warning", severity="warning"),
        )
        self.turn = Turn(runtime, request, view, hooks)
        try:
            await self.turn.run()
        except asyncio.CancelledError:
            self._turn_done("cancelled")
            raise
        self._turn_done(self.turn.state)

    def attach_to_next(self, name: str, content: str) -> None:
        """Send ``content`` along with the next message (``/mcp read``)."""
        from muxi_cli.protocol.records import Attachment  # deferred: as in the turn runner

        self._attachments.append(Attachment(name=name, content=content))

    def fill_prompt(self, text: str) -> None:
        """Put ``text`` in the input for the user to edit and send (``/mcp prompt``)."""
        self.prompt.set_text(text)
        self.prompt.focus()

    def _turn_done(self, state: str) -> None:
        try:
            working = self.working
        except NoMatches:  # the app is closing and took the screen's widgets with it
            return
        working.stop()
        self.prompt.remove_class("-busy")
        items, self._sent_items = self._sent_items, []
        if state == "failed" and not self.prompt.text.strip():
            if self._pending_prompt:
                self.prompt.set_text(self._pending_prompt)
            for item in items:  # the files come back with the text (already stored: no upload)
                self.run_worker(self.attachment_bar.add_item(item))
        self._pending_prompt = None
        if state == "done" and self.turn is not None:
            self.speak_reply(self.turn.root.reply.text)
        if self.focused is None or isinstance(self.focused, ApprovalPrompt):
            self.prompt.focus()
        self.muxi.refresh_session_title()

    def _on_session(self, session_id: str) -> None:
        self.muxi.session_id = session_id

    def _on_usage(self, before: Usage, turn: Usage) -> None:
        """The status bar: the session's usage so far plus this turn's totals."""
        self.muxi.usage = before.merged(turn)
        changes: dict[str, object] = {"usage": self.muxi.usage}
        if turn.model:
            changes["model"] = turn.model
        self.status_bar.change(**changes)

    def _on_approval(self, prompt: ApprovalPrompt) -> None:
        self.working.set_label("waiting for your approval…")
        prompt.focus()
        prompt.scroll_visible(animate=False)

    def _on_elicit(self, event: ElicitationRequested) -> None:
        from muxi_cli.tui.screens.elicit import ElicitationDialog  # deferred: rarely needed

        self.working.set_label("waiting for your answer…")
        turn = self.turn

        async def send(answer: tuple[str, dict[str, Any] | None] | None) -> None:
            action, content = answer or ("cancel", None)
            self.working.set_label("thinking…")
            if turn is None:
                return
            try:
                await turn.answer_elicitation(event.elicitation_id, action, content)
            except Exception as exc:
                log.exception("answering an elicitation failed")
                self.notify(f"Could not send the answer: {exc}", severity="error")

        self.app.push_screen(ElicitationDialog(event), send)

    async def on_approval_prompt_decided(self, event: ApprovalPrompt.Decided) -> None:
        event.stop()
        prompt = event.prompt
        call = prompt.call
        call.status = "denied" if event.decision == "deny" else "running"
        await prompt.remove()
        self.prompt.focus()
        self.working.set_label("thinking…")
        if self.turn is None:  # the decision goes to the turn that asked
            return
        try:
            await self.turn.approve(call.call_id, event.decision)  # type: ignore[arg-type]
        except Exception as exc:
            log.exception("approve failed")
            self.notify(f"Could not send the approval: {exc}", severity="error")

    def action_cancel_reply(self) -> None:
        if not self.busy or self._turn_worker is None:
            return
        if isinstance(self.focused, ApprovalPrompt):
            self.prompt.focus()  # the prompt goes away with the reply
        self._turn_worker.cancel()
        self.notify("Reply cancelled; what was streamed is kept.", timeout=3)

    def action_help(self) -> None:
        self.run_worker(self.run_command("help", ""))

    def action_dashboard(self) -> None:
        self.run_worker(self.run_command("dashboard", ""))

    def action_new_session(self) -> None:
        self.run_worker(self.run_command("new", ""))

    def action_sessions(self) -> None:
        self.run_worker(self.run_command("sessions", ""))

    def action_pick_agent(self) -> None:
        self.run_worker(self.run_command("agent", ""))
