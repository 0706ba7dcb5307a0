"""The slash commands of the chat screen (``cmd_<name>``), kept apart from turn handling."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.errors import MuxiError
from muxi_cli.tui import commands, formatting
from muxi_cli.tui.model import ReplyRecord, code_blocks, records_from_messages

if TYPE_CHECKING:
    from muxi_cli.runtime.base import Runtime
    from muxi_cli.tui.app import MuxiApp
    from muxi_cli.tui.completer import Sources
    from muxi_cli.tui.screens.sessions import SessionChoice
    from muxi_cli.tui.widgets.prompt import PromptInput
    from muxi_cli.tui.widgets.status_bar import StatusBar
    from muxi_cli.tui.widgets.transcript import Transcript

log = logging.getLogger(__name__)


class ChatCommands:
    """Mixed into :class:`ChatScreen`."""

    if TYPE_CHECKING:

        @property
        def muxi(self) -> MuxiApp: ...
        @property
        def transcript(self) -> Transcript: ...
        @property
        def prompt(self) -> PromptInput: ...
        @property
        def status_bar(self) -> StatusBar: ...
        @property
        def busy(self) -> bool: ...

        app: Any

        sources: Sources

        async def note(self, text: str, kind: str = "info") -> None: ...
        async def show_error(
            self, message: str, hint: str | None = None, code: str = "error"
        ) -> None: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...

        def attach_to_next(self, name: str, content: str) -> None: ...

        def fill_prompt(self, text: str) -> None: ...

    async def run_command(self, name: str, args: str) -> bool:
        """Run ``/name args``; False when the command was not understood (the text is kept)."""
        command = commands.lookup(name)
        if command is None:
            near = commands.suggest(name)
            hint = f"Did you mean /{near}? " if near else ""
            await self.note(f"Unknown command /{name}. {hint}/help lists the commands.", "warning")
            return False
        handler = getattr(self, f"cmd_{command.name}")
        try:
            result = await handler(args)
        except MuxiError as exc:
            await self.show_error(exc.message, exc.hint, exc.code)
            return True
        except Exception as exc:  # a command must never take the app down
            log.exception("/%s failed", name)
            await self.show_error(
                f"/{name} failed: {type(exc).__name__}: {exc}", "Details are in the log file."
            )
            return True
        return result is not False

    async def _runtime(self) -> Runtime | None:
        runtime = self.muxi.runtime
        if runtime is None:
            err = self.muxi.connect_error
            if err is not None:
                await self.show_error(err.message, err.hint, err.code)
            else:
                await self.note("Still connecting; try again in a moment.", "warning")
        return runtime

    # -- commands -------------------------------------------------------------------------

    async def cmd_help(self, args: str) -> None:
        from muxi_cli.tui.screens.help import (
            HelpScreen,  # deferred: loads asyncio, platformdirs, rich
        )

        self.app.push_screen(HelpScreen(self.muxi.log_path))

    async def cmd_exit(self, args: str) -> None:
        await self.muxi.action_quit()

    async def cmd_agent(self, args: str) -> bool | None:
        name = args.strip().lstrip("@")
        if not name:
            await self._open_agent_picker()
            return None
        if name in ("auto", "automatic"):
            self.muxi.set_agent(None)
            await self.note("The router picks the agent for each message.")
            return None
        if self.sources.agents and name not in self.sources.agents:
            near = difflib.get_close_matches(name, list(self.sources.agents), n=1, cutoff=0.0)
            nearest = f" The nearest is {near[0]!r}." if near else ""
            await self.note(
                f"No agent named {name!r}.{nearest} Agents: {', '.join(self.sources.agents)}.",
                "warning",
            )
            return False
        self.muxi.set_agent(name)
        await self.note(f"Talking to {name}.")
        return None

    async def cmd_agents(self, args: str) -> None:
        await self._open_agent_picker()

    async def _open_agent_picker(self) -> None:
        from muxi_cli.tui.screens.agents import (  # deferred: loads asyncio, platformdirs, rich
            AUTO,
            AgentPicker,
        )

        if await self._runtime() is None:
            return

        async def chosen(name: str | None) -> None:
            if name is None:
                return
            await self.cmd_agent("auto" if name == AUTO else name)

        self.app.push_screen(AgentPicker(self.muxi.agents, self.muxi.agent), chosen)

    async def cmd_new(self, args: str) -> None:
        if self.busy:
            self.notify("A reply is still running: Esc cancels it first.", severity="warning")
            return
        await self.transcript.clear()
        self.muxi.new_session()
        self.prompt.focus()

    async def cmd_clear(self, args: str) -> None:
        if self.busy:
            self.notify("A reply is still running: Esc cancels it first.", severity="warning")
            return
        await self.transcript.clear()
        await self.note("Screen cleared; the session goes on (Ctrl+N starts a new one).")

    async def cmd_sessions(self, args: str) -> None:
        from muxi_cli.tui.screens.sessions import (
            SessionsScreen,  # deferred: loads asyncio, platformdirs, rich
        )

        runtime = await self._runtime()
        if runtime is None:
            return

        async def chosen(choice: SessionChoice | None) -> None:
            if choice is None:
                return
            current = self.muxi.session_id
            if choice.new or (
                current is not None and current in choice.deleted and not choice.open
            ):
                await self.cmd_new("")
            elif choice.open and choice.open != current:
                await self.open_session(choice.open)
            if current in choice.renamed:
                self.muxi.refresh_session_title()

        self.app.push_screen(SessionsScreen(runtime, self.muxi.session_id), chosen)

    async def open_session(self, session_id: str) -> None:
        if self.busy:
            self.notify("A reply is still running: Esc cancels it first.", severity="warning")
            return
        runtime = await self._runtime()
        if runtime is None:
            return
        try:
            info = await runtime.session(session_id)
            messages = await runtime.messages(info.id)
        except MuxiError as exc:
            await self.show_error(exc.message, exc.hint, exc.code)
            return
        self.muxi.new_session(
            session_id=info.id, title=info.title
        )  # the full id, even from a prefix
        await self.transcript.show(records_from_messages(messages))
        self.prompt.focus()

    async def cmd_memory(self, args: str) -> None:
        from muxi_cli.tui.screens.memory import (
            MemoryScreen,  # deferred: loads asyncio, platformdirs, rich
        )

        runtime = await self._runtime()
        if runtime is not None:
            self.app.push_screen(MemoryScreen(runtime))

    async def cmd_dashboard(self, args: str) -> None:
        from muxi_cli.tui.screens.dashboard import DashboardScreen  # deferred: loads Sparkline

        runtime = await self._runtime()
        if runtime is not None:
            self.app.push_screen(DashboardScreen(runtime))

    async def cmd_tools(self, args: str) -> None:
        from muxi_cli.tui.screens.info import (
            TableScreen,  # deferred: loads asyncio, platformdirs, rich
        )

        runtime = await self._runtime()
        if runtime is None:
            return
        tools = await runtime.tools(self.muxi.agent)
        rows = [
            (
                t.tool,
                f"mcp:{t.server}" if t.kind == "mcp" else t.server,
                t.policy,
                ", ".join(t.agents),
                formatting.clip(t.description, 60),
            )
            for t in tools
        ]
        self.app.push_screen(
            TableScreen("Tools", ("Tool", "Source", "Policy", "Agents", "Description"), rows)
        )

    async def cmd_mcp(self, args: str) -> None:
        from muxi_cli.tui.screens.mcp_servers import (
            McpServersScreen,  # deferred: loads asyncio, platformdirs, rich
        )

        runtime = await self._runtime()
        if runtime is None:
            return
        verb, _, rest = args.strip().partition(" ")
        if verb:  # /mcp attach|detach|retry|inspect ... (muxi_cli.tui.mcp_inspect.chat)
            from muxi_cli.tui.mcp_inspect.chat import (
                mcp_command,  # deferred: loads asyncio, platformdirs, rich
            )

            await mcp_command(self, runtime, verb, rest.strip())
            return
        servers = await runtime.mcp_servers()
        self.muxi.update_mcp(servers)

        def retry(name: str) -> None:  # the screen's "r" key: the same as /mcp retry NAME
            self.app.run_worker(self.run_command("mcp", f"retry {name}"))

        self.app.push_screen(McpServersScreen(servers, retry))

    async def cmd_model(self, args: str) -> None:
        value = args.strip()
        if value in ("default", "reset"):
            self.muxi.model_override = None
            self.status_bar.change(model=self.muxi.default_model())
            await self.note(
                f"Back to the agent's own model ({self.muxi.default_model() or 'unknown'})."
            )
            return
        if value:
            if "/" not in value:
                await self.note(
                    "Name the model as provider/model, e.g. openai/gpt-4o-mini.", "warning"
                )
                return
            self.muxi.model_override = value
            self.status_bar.change(model=value)
            await self.note(
                f"Using {value} for the next messages of this session (/model default to undo)."
            )
            return
        current = self.muxi.model_override or self.muxi.default_model() or "none configured"
        lines = [f"Model: {current}" + (" (set with /model)" if self.muxi.model_override else "")]
        for agent in self.muxi.agents:
            lines.append(f"  {agent.name}: {agent.model}")
        lines.append("/model provider/model switches for this session; /model default goes back.")
        await self.note("\n".join(lines))

    async def cmd_export(self, args: str) -> bool | None:
        fmt = (args.strip().lower() or "md").lstrip(".")
        if fmt in ("markdown",):
            fmt = "md"
        if fmt not in ("md", "json"):
            await self.note("Export as md or json: /export md, /export json.", "warning")
            return False
        runtime = await self._runtime()
        if runtime is None:
            return None
        session_id = self.muxi.session_id
        if session_id is None:
            await self.note("Nothing to export yet: this session has no messages.", "warning")
            return None
        content = await runtime.export_session(session_id, fmt)  # type: ignore[arg-type]
        title = self.muxi.session_title or "session"
        path = Path.cwd() / f"muxi-{formatting.slug(title)}-{session_id[-8:]}.{fmt}"
        try:
            path.write_text(content, encoding="utf-8")
        except OSError as exc:
            await self.show_error(
                f"Could not write {path}: {exc.strerror or exc}",
                "Start muxi in a folder you can write to.",
            )
            return None
        await self.note(f"Exported this session to {path}")
        self.notify(str(path), title="Exported")
        return None

    async def cmd_copy(self, args: str) -> None:
        last = next(
            (r for r in reversed(self.transcript.records) if isinstance(r, ReplyRecord) and r.text),
            None,
        )
        if last is None:
            await self.note("No reply to copy yet.", "warning")
            return
        words = args.split()
        if words and words[0] == "code":
            blocks = code_blocks(last.text)
            if not blocks:
                await self.note("The last reply has no code block.", "warning")
                return
            index = len(blocks)
            if len(words) > 1 and words[1].isdigit():
                index = int(words[1])
            index = max(1, min(index, len(blocks)))
            self.app.copy_to_clipboard(blocks[index - 1])
            self.notify(f"Copied code block {index} of {len(blocks)}.", title="Copied")
            return
        self.app.copy_to_clipboard(last.text)
        self.notify(f"Copied the last reply ({len(last.text)} characters).", title="Copied")

    async def cmd_cost(self, args: str) -> None:
        usage = self.muxi.usage
        lines = [
            "This session (since it was opened here):",
            f"  input tokens   {usage.input_tokens:,}",
            f"  output tokens  {usage.output_tokens:,}",
            f"  cost           {formatting.usage_cost(usage) or formatting.cost(0.0)}",
        ]
        if usage.unknown:
            lines.append(
                "  (a model server did not report token usage for some replies: the counts "
                "are a lower bound and their cost is unknown)"
            )
        if usage.unpriced:
            lines.append(
                "  (no price is known for a model used here; add one under `pricing:` in muxi.yaml)"
            )
        await self.note("\n".join(lines))

    async def cmd_timeline(self, args: str) -> None:
        from muxi_cli.tui.screens.timeline import (
            TimelineScreen,  # deferred: loads asyncio, platformdirs, rich
        )

        runtime = await self._runtime()
        if runtime is None:
            return
        session_id = self.muxi.session_id
        if session_id is None:
            await self.note("No timeline yet: this session has no messages.", "warning")
            return
        self.app.push_screen(TimelineScreen(runtime, session_id, self.muxi.session_title or ""))

    async def cmd_theme(self, args: str) -> bool | None:
        name = args.strip()
        if not name:
            self.app.action_change_theme()
            return None
        if name not in self.app.available_themes:
            await self.note(
                f"No theme {name!r}. Themes: {', '.join(sorted(self.app.available_themes))}",
                "warning",
            )
            return False
        self.app.theme = name
        await self.note(f"Theme: {name} (saved).")
        return None
