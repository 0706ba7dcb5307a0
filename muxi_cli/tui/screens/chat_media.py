"""Files and speech on the chat screen: ``/attach``, dropped files, the chips'
upload when a message is sent, ``/attachments`` and ``/speak``.

Everything goes through the app's runtime (``put_media``, ``session_media``,
``messages``, ``speak``): the chat app never touches a media store itself.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError
from muxi_cli.tui import files
from muxi_cli.tui.model import UserRecord
from muxi_cli.tui.widgets.attachments import AttachmentBar, AttachmentChip
from muxi_cli.tui.widgets.prompt import PromptInput

if TYPE_CHECKING:
    from muxi_cli.protocol.records import Attachment
    from muxi_cli.runtime.base import Runtime
    from muxi_cli.tui.app import MuxiApp
    from muxi_cli.tui.speech import Speaker
    from muxi_cli.tui.widgets.reply import ReplyView
    from muxi_cli.tui.widgets.status_bar import StatusBar
    from muxi_cli.tui.widgets.working import Working

log = logging.getLogger(__name__)

#: The chat app reads a file into memory to send it: larger files are refused
#: before reading (the media store's own per-file limit is usually lower).
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class ChatMedia:
    """Mixed into :class:`ChatScreen`."""

    if TYPE_CHECKING:

        @property
        def muxi(self) -> MuxiApp: ...
        @property
        def prompt(self) -> PromptInput: ...
        @property
        def status_bar(self) -> StatusBar: ...

        app: Any

        async def note(self, text: str, kind: str = "info") -> None: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def fill_prompt(self, text: str) -> None: ...
        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        async def _runtime(self) -> Runtime | None: ...
        async def show_error(
            self, message: str, hint: str | None = None, code: str = "error"
        ) -> None: ...
        async def _begin(self, text: str, record: UserRecord) -> ReplyView: ...
        async def _run_turn(self, message: str, agent: str | None, view: ReplyView) -> None: ...

        @property
        def working(self) -> Working: ...

        _attachments: list[Attachment]
        _sent_items: list[files.Pending]

    _speaker: Speaker | None = None

    @property
    def attachment_bar(self) -> AttachmentBar:
        bar: AttachmentBar = self.query_one(AttachmentBar)
        return bar

    # -- adding and removing files -------------------------------------------------------

    async def attach_paths(self, paths: list[Path]) -> list[str]:
        """Add a chip per file; the problems of those that cannot be attached."""
        bar = self.attachment_bar
        problems = []
        for path in paths:
            try:
                item = files.pending(path, bar.next_key())
            except FileNotFoundError:
                problems.append(f"No file {path}.")
                continue
            except OSError as exc:
                problems.append(
                    str(exc)
                    if isinstance(exc, IsADirectoryError | PermissionError)
                    else f"Cannot read {path}: {exc.strerror or exc}"
                )
                continue
            await bar.add_item(item)
        return problems

    async def on_prompt_input_files_dropped(self, event: PromptInput.FilesDropped) -> None:
        event.stop()
        for problem in await self.attach_paths(event.paths):
            await self.note(problem, "warning")

    async def on_prompt_input_remove_last_attachment(
        self, event: PromptInput.RemoveLastAttachment
    ) -> None:
        event.stop()
        item = await self.attachment_bar.pop_last()
        if item is not None:
            self.notify(f"Removed {item.name}.", timeout=2)

    async def on_attachment_chip_remove(self, event: AttachmentChip.Remove) -> None:
        event.stop()
        await self.attachment_bar.discard(event.item)
        self.prompt.focus()

    async def cmd_attach(self, args: str) -> bool | None:
        typed = args.strip()
        if not typed:
            await self.note(
                "/attach PATH adds a file to the next message (Tab completes the path); "
                "pasting a file's path or dropping the file on the terminal does the same."
            )
            self.fill_prompt("/attach ")
            return None
        whole = files.expand(typed)
        paths = [whole] if whole.exists() else files.split_paths(typed)
        problems = await self.attach_paths(paths)
        for problem in problems:
            await self.note(problem, "warning")
        if problems and len(problems) == len(paths):
            return False  # nothing attached: keep the command to fix the path
        self.prompt.focus()
        return None

    # -- sending -------------------------------------------------------------------------

    async def upload_attachments(
        self, runtime: Runtime, items: list[files.Pending]
    ) -> list[Attachment] | None:
        """The request's attachments, or None when a file could not be taken
        (its chip says why; every chip stays)."""
        from muxi_cli.protocol.records import Attachment  # deferred: as the turn runner

        out: list[Attachment] = []
        failed = False
        for item in items:
            item.error = None
            try:
                if item.as_text:
                    text = await asyncio.to_thread(_read_text, item.path)
                    if text is not None:
                        out.append(Attachment(name=item.name, content=text, mime=item.mime))
                        continue
                if item.ref is None:
                    if item.path.stat().st_size > MAX_UPLOAD_BYTES:
                        raise MuxiError(
                            f"{item.name} is {files.human_size(item.path.stat().st_size)}, over "
                            f"the {files.human_size(MAX_UPLOAD_BYTES)} the chat app sends"
                        )
                    data = await asyncio.to_thread(item.path.read_bytes)
                    item.ref = await runtime.put_media(data, name=item.name)
                ref = item.ref
                out.append(Attachment(name=item.name, media_id=ref.id, mime=ref.media_type))
            except MuxiError as exc:
                item.error = exc.message + (f" ({exc.hint})" if exc.hint else "")
                failed = True
            except OSError as exc:
                item.error = f"cannot read it: {exc.strerror or exc}"
                failed = True
            except Exception as exc:  # a sending bug must not take the app (or the text) down
                log.exception("sending %s failed", item.path)
                item.error = f"could not be sent: {type(exc).__name__}: {exc}"
                failed = True
        self.attachment_bar.refresh_errors()
        return None if failed else out

    async def send_with_files(
        self, text: str, agent: str | None, message: str, items: list[files.Pending]
    ) -> None:
        """Send the chips' files first; the message is shown once every file is taken."""
        self.prompt.add_class("-busy")
        self.prompt.read_only = True  # what is typed meanwhile would be lost on success
        self.working.start("sending files…")
        try:
            runtime = await self.muxi.wait_runtime()
            attachments = None
            if runtime is not None:
                attachments = await self.upload_attachments(runtime, items)
        finally:
            self.prompt.read_only = False
            self.prompt.remove_class("-busy")
            self.working.stop()
        if runtime is None:
            err = self.muxi.connect_error
            await self.show_error(
                err.message if err else "not connected", err.hint if err else None
            )
            return
        if attachments is None:
            self.notify(
                "A file could not be sent (see the attachments); nothing was sent.",
                severity="error",
            )
            return
        await self.attachment_bar.discard_all()
        self._sent_items = items
        record = UserRecord(
            message,
            agent,
            media=tuple(i.ref for i in items if i.ref is not None and not i.as_text),
            files=tuple(i.label() for i in items if i.as_text),
        )
        view = await self._begin(text, record)
        self._attachments.extend(attachments)
        await self._run_turn(message, agent, view)

    # -- /attachments --------------------------------------------------------------------

    async def cmd_attachments(self, args: str) -> None:
        from muxi_cli.protocol.messages import media_of  # deferred: as the records
        from muxi_cli.tui.screens.info import TableScreen  # deferred: as the other screens

        waiting = len(self.attachment_bar.items)
        note = f"{waiting} file(s) wait above the input for the next message." if waiting else ""
        runtime = await self._runtime()
        if runtime is None:
            return
        session_id = self.muxi.session_id
        if session_id is None:
            await self.note(("No attachments yet: this session has no messages. " + note).strip())
            return
        refs = await runtime.session_media(session_id)
        where: dict[str, str] = {}
        for message in await runtime.messages(session_id):
            who = {"user": "you", "tool": "tool result"}.get(
                message.role, message.agent or message.role
            )
            for part in media_of(message.parts):
                where.setdefault(part.media.id, f"#{message.seq} ({who})")
        rows = [
            (
                ref.name or ref.id[:12],
                files.type_label(ref.media_type),
                files.human_size(ref.size),
                _dimensions(ref.meta),
                where.get(ref.id, "—"),
            )
            for ref in refs
        ]
        self.app.push_screen(
            TableScreen(
                "Attachments",
                ("Name", "Type", "Size", "Dimensions", "Message"),
                rows,
                note=note,
                empty="This session holds no files yet.",
            )
        )

    # -- /speak --------------------------------------------------------------------------

    @property
    def speaking(self) -> bool:
        return bool(self.muxi.status.speaking)

    async def cmd_speak(self, args: str) -> bool | None:
        word = args.strip().lower()
        if word not in ("", "on", "off"):
            await self.note("/speak, /speak on or /speak off.", "warning")
            return False
        on = not self.speaking if not word else word == "on"
        self.status_bar.change(speaking=on)
        if on:
            from muxi_cli.tui.speech import find_player  # deferred: only with /speak

            player = find_player()
            how = (
                f"played with {player.name}"
                if player is not None
                else "saved as files (no audio player found: ffplay, afplay, aplay, paplay, mpv)"
            )
            await self.note(f"Speaking replies: on ({how}). /speak again turns it off.")
        else:
            self.app.workers.cancel_group(self.app, "speak")  # one being synthesized too
            await self.stop_speaking()
            await self.note("Speaking replies: off.")
        return None

    def speak_reply(self, text: str) -> None:
        """After a completed reply, when /speak is on: synthesize and play it (a worker)."""
        if not self.speaking or not text.strip() or self.muxi.runtime is None:
            return
        self.app.run_worker(
            self._speak(self.muxi.runtime, text), group="speak", exclusive=True, exit_on_error=False
        )

    async def _speak(self, runtime: Runtime, text: str) -> None:
        from muxi_cli.tui.speech import Speaker  # deferred: only with /speak

        if self._speaker is None:
            self._speaker = Speaker(lambda message: self.notify(message, title="Speech", timeout=8))
        try:
            await self._speaker.speak(runtime, text)
        except MuxiError as exc:
            self.notify(f"Could not speak the reply: {exc.message}", severity="warning")
        except OSError as exc:
            self.notify(f"Could not play the reply: {exc.strerror or exc}", severity="warning")
        except Exception as exc:  # speech is a side show: never take the app down
            log.exception("speaking the reply failed")
            self.notify(
                f"Could not speak the reply: {type(exc).__name__}: {exc}", severity="warning"
            )

    async def stop_speaking(self) -> None:
        if self._speaker is not None:
            await self._speaker.stop()


def _read_text(path: Path) -> str | None:
    """The file as text, or None when it is not UTF-8 (it then goes as a file)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def _dimensions(meta: dict[str, int | float]) -> str:
    bits = []
    if "width" in meta and "height" in meta:
        bits.append(f"{int(meta['width'])}x{int(meta['height'])}")
    if "pages" in meta:
        bits.append(f"{int(meta['pages'])} pages")
    if "duration" in meta:
        bits.append(files.duration(float(meta["duration"])))
    return ", ".join(bits) or "—"
