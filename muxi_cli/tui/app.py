"""The muxi chat app: owns the runtime's lifecycle and the session state.

The runtime is opened, used for health checks and closed by one task (the
MCP SDK's task groups must be entered and left in the same task), while the
input is interactive from the first frame: a message sent before the runtime
is ready waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches

from muxi_cli import settings
from muxi_cli.errors import MuxiError
from muxi_cli.tui.history import PromptHistory
from muxi_cli.tui.model import Usage
from muxi_cli.tui.palette import MuxiCommands
from muxi_cli.tui.screens.chat import ChatScreen
from muxi_cli.tui.widgets.status_bar import Status

if TYPE_CHECKING:
    from textual.command import Provider
    from textual.theme import Theme
    from textual.widget import Widget

    from muxi_cli.protocol.records import AgentInfo, Health, ServerInfo
    from muxi_cli.runtime.base import Runtime

log = logging.getLogger(__name__)

RuntimeFactory = Callable[[], Awaitable["Runtime"]]

CLOSE_TIMEOUT = 10.0
READY_STATES = ("ready", "running", "connected", "ok", "started")
FAILED_STATES = ("failed", "error", "crashed")


def _palette_provider() -> type[Provider]:

    return MuxiCommands


#: Imported in a thread once the prompt is up, so opening them later costs nothing.
WARM_MODULES = (
    "muxi_cli.tui.widgets.reply",
    "muxi_cli.tui.screens.help",
    "muxi_cli.tui.screens.sessions",
    "muxi_cli.tui.screens.memory",
    "muxi_cli.tui.screens.agents",
    "muxi_cli.tui.screens.info",
    "muxi_cli.tui.screens.dashboard",
    "muxi_cli.tui.palette",
)


class MuxiApp(App[None]):
    TITLE = "muxi"
    COMMANDS = App.COMMANDS | {_palette_provider}
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        runtime_factory: RuntimeFactory | None = None,
        *,
        runtime: Runtime | None = None,
        session_id: str | None = None,
        agent: str | None = None,
        config_path: str | None = None,
        log_path: str | None = None,
        history: PromptHistory | None = None,
        offer_setup: bool = True,
        cursor_blink: bool = True,
        continue_last: bool = False,
    ) -> None:
        super().__init__()
        self._continue_last = continue_last
        if runtime_factory is None:
            if runtime is None:
                raise ValueError("MuxiApp needs a runtime or a runtime factory")

            async def given() -> Runtime:
                assert runtime is not None
                return runtime

            runtime_factory = given
        self._factory = runtime_factory
        self.runtime: Runtime | None = None
        self.connect_error: MuxiError | None = None
        self.health: Health | None = None
        self.agents: list[AgentInfo] = []
        self.agent = agent
        self.session_id = session_id
        self.session_title: str | None = None
        self.model_override: str | None = None
        self.usage = Usage()
        #: Whether "always allow" is saved: locally yes; on a server only with an admin key.
        self.always_saves = True
        self.status = Status(agent=agent)
        self.config_path = config_path
        self.log_path = log_path
        self.history = history or PromptHistory()
        self._initial_session = session_id
        self._offer_setup = offer_setup
        self.cursor_blink = cursor_blink
        self._settled = asyncio.Event()
        self._stop = asyncio.Event()
        self._life: asyncio.Task[None] | None = None
        self._serving = False
        #: MCP servers whose failed start was announced (name -> the error announced).
        self._mcp_announced: dict[str, str] = {}
        self._chat: ChatScreen | None = None

    # -- start and stop ---------------------------------------------------------------

    async def on_mount(self) -> None:
        saved = settings.get("theme")
        if isinstance(saved, str) and saved in self.available_themes:
            self.theme = saved
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.history.load()
        self._chat = ChatScreen()
        await self.push_screen(self._chat)
        # The prompt takes focus on this refresh; the runtime opens right after it.
        self.call_after_refresh(self._start_runtime)

    def _start_runtime(self) -> None:
        if self._life is None:
            self._life = asyncio.create_task(self._runtime_main(), name="muxi-runtime")
            self.run_worker(self._warm_up(), group="warm-up")

    async def _warm_up(self) -> None:

        for module in WARM_MODULES:
            try:
                await asyncio.to_thread(importlib.import_module, module)
            except Exception:  # only an optimisation
                log.debug("warm-up import of %s failed", module, exc_info=True)

    @property
    def chat(self) -> ChatScreen:
        assert self._chat is not None
        return self._chat

    def _theme_changed(self, theme: Theme) -> None:
        try:
            settings.update({"theme": theme.name})
        except OSError as exc:  # a preference is never worth a crash
            log.warning("could not save the theme: %s", exc)

    async def action_quit(self) -> None:
        await self.shutdown_runtime()
        self.exit()

    async def on_unmount(self) -> None:
        await self.shutdown_runtime()

    async def shutdown_runtime(self) -> None:
        """Ask the runtime task to close the runtime, and wait for it (bounded)."""
        self._stop.set()
        task = self._life
        if task is None or task.done():
            return
        if not self._serving:  # still opening, or waiting in the setup screen
            task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("the runtime did not close within %s s", CLOSE_TIMEOUT)
        except asyncio.CancelledError:
            if not task.cancelled():  # this caller was cancelled, not the runtime task
                raise
        except Exception:
            log.exception("closing the runtime failed")

    async def wait_runtime(self) -> Runtime | None:
        await self._settled.wait()
        return self.runtime

    # -- the runtime task ----------------------------------------------------------------

    async def _runtime_main(self) -> None:
        problem: str | None = None
        runtime: Runtime | None = None
        try:
            while True:
                self._set_status(connection="connecting…", connected=False, failed=False)
                try:
                    runtime = await self._factory()
                except Exception as exc:
                    await self._connect_failed(exc)
                    return
                self.runtime = runtime
                set_notice = getattr(runtime, "set_notice_handler", None)
                if callable(set_notice):  # a remote runtime: show reconnects in the app
                    set_notice(self._connection_notice)
                health = await self._health(runtime)
                needs_setup = health is not None and health.model is None and health.mode == "local"
                if needs_setup and self._offer_setup:
                    outcome = await self._ask_setup(problem)
                    if outcome is not None:
                        self.notify(outcome, title="Setup saved")
                        self.runtime, closing, runtime = None, runtime, None
                        await self._close(closing)
                        detail = (
                            health.detail
                            if health and health.detail
                            else "Check the key or the server, then save again."
                        )
                        problem = f"Still no usable model. {detail}"
                        continue
                    self._offer_setup = False
                try:
                    await self._on_runtime_ready(runtime, health)
                except Exception:
                    log.exception("loading agents/servers failed")
                self._settled.set()
                if not needs_setup:  # without a model the warm-up could only fail
                    self.run_worker(self._prepare(runtime), group="prepare", exclusive=True)
                if needs_setup:
                    await self.chat.show_error(
                        "No model is configured, so replies will fail.",
                        "Run `muxi init`, set ANTHROPIC_API_KEY / OPENAI_API_KEY, or restart muxi for the setup screen.",
                        "no_provider",
                    )
                self._serving = True
                await self._stop.wait()
                return
        finally:
            self._settled.set()
            if runtime is not None:
                self.runtime = None
                await self._close(runtime)

    async def _prepare(self, runtime: Runtime) -> None:
        """Load what the first turn needs while the user types (Runtime.prepare);
        a message sent meanwhile waits for it in the runtime."""
        try:
            await runtime.prepare()
        except Exception as exc:  # nothing is shown: the first turn reports it, as it would
            log.info("warm-up failed: %s", exc)

    async def _health(self, runtime: Runtime) -> Health | None:
        try:
            self.health = await runtime.health()
        except Exception as exc:
            log.warning("health check failed: %s", exc)
            self.health = None
        return self.health

    async def _ask_setup(self, problem: str | None) -> str | None:
        from muxi_cli.tui.screens.setup import SetupScreen  # deferred: loads Textual

        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def done(result: str | None) -> None:
            if not future.done():
                future.set_result(result)

        await self.push_screen(SetupScreen(self.config_path, problem), done)
        return await future

    async def _close(self, runtime: Runtime) -> None:
        try:
            await asyncio.wait_for(runtime.aclose(), CLOSE_TIMEOUT)
        except Exception:
            log.exception("closing the runtime failed")

    async def _connect_failed(self, exc: Exception) -> None:
        if isinstance(exc, MuxiError):
            error = exc
        else:
            log.exception("opening the runtime failed")
            error = MuxiError(
                f"{type(exc).__name__}: {exc}", "Details are in the log file (see /help)."
            )
        self.connect_error = error
        self._settled.set()
        self._set_status(connection="not connected", connected=False, failed=True)
        with contextlib.suppress(Exception):
            await self.chat.show_error(error.message, error.hint, error.code)

    async def _on_runtime_ready(self, runtime: Runtime, health: Health | None) -> None:
        self.agents = await runtime.agents()
        self.always_saves = await self._always_saves(runtime)
        chat = self.chat
        chat.sources.agents = [a.name for a in self.agents]
        chat.sources.agent_help = {a.name: a.description for a in self.agents}
        chat.sources.models = sorted({a.model for a in self.agents if a.model})
        self._set_status(
            connection=runtime.label,
            connected=True,
            failed=False,
            agent=self.agent,
            model=self.model_override or self.default_model(),
        )
        if self.agent and self.agent not in chat.sources.agents:
            near = difflib.get_close_matches(self.agent, chat.sources.agents, n=1, cutoff=0.0)
            nearest = f" (the nearest is {near[0]!r})" if near else ""
            await chat.note(
                f"No agent named {self.agent!r}{nearest}; the router picks instead.", "warning"
            )
            self.set_agent(None)
        if not self._initial_session and self._continue_last:
            try:
                latest = await runtime.sessions(limit=1)
            except MuxiError as exc:
                log.warning("listing sessions failed: %s", exc)
                latest = []
            if latest:
                self._initial_session = latest[0].id
            else:
                await chat.note(
                    "There is no earlier session to continue; starting a new one.", "warning"
                )
        if self._initial_session:
            await chat.open_session(self._initial_session)
        try:  # servers that failed already are announced before the chat is handed over
            self._announce_mcp_failures(await runtime.mcp_servers())
        except Exception as exc:
            log.warning("listing MCP servers failed: %s", exc)
        self.run_worker(self._watch_mcp(runtime), group="mcp", exclusive=True)

    async def _watch_mcp(self, runtime: Runtime) -> None:
        """Show MCP servers as they come up (polls while some are still starting)."""
        for _ in range(120):
            try:
                servers = await runtime.mcp_servers()
            except Exception as exc:
                log.warning("listing MCP servers failed: %s", exc)
                return
            self.update_mcp(servers)
            self._announce_mcp_failures(servers)
            if not any(s.state not in READY_STATES + FAILED_STATES for s in servers):
                return
            await asyncio.sleep(0.5)

    def _announce_mcp_failures(self, servers: list[ServerInfo]) -> None:
        """A formation server that failed to start: one notification naming it, and the
        whole error in the log (``/mcp retry`` and ``/mcp attach`` report their own outcome)."""
        self.update_mcp(servers)
        for server in servers:
            if server.state not in FAILED_STATES or server.name in self._mcp_announced:
                continue
            error = (server.error or server.state).strip()
            self._mcp_announced[server.name] = error
            log.warning("MCP server %r failed to start: %s", server.name, error)
            head = error.splitlines()[0] if error else server.state
            self.notify(
                f"{server.name!r} failed to start: {head}\n"
                f"/mcp shows why (command, stderr); /mcp retry {server.name} tries again.",
                title="MCP server failed",
                severity="error",
                timeout=15,
                markup=False,
            )

    def _connection_notice(self, message: str) -> None:
        """A remote runtime's connection news ("reconnecting…"), shown as a toast."""
        self.notify(message, title="connection", severity="warning")

    # -- state the screens change ---------------------------------------------------------

    def _set_status(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.status, key, value)
        if self._chat is not None and self._chat.is_mounted:
            try:
                self._chat.status_bar.refresh()
            except NoMatches:
                pass  # still composing or closing: the bar reads self.status when drawn

    async def _always_saves(self, runtime: Runtime) -> bool:
        """A server saves "always allow" only for an admin key (a user key's counts once)."""
        if runtime.label == "local":
            return True
        whoami = getattr(runtime, "whoami", None)
        if whoami is None:
            return False
        try:
            me = await whoami()
        except Exception as exc:  # unknown: do not promise what may not happen
            log.warning("whoami failed: %s", exc)
            return False
        return isinstance(me, dict) and me.get("role") == "admin"

    def default_model(self) -> str | None:
        if self.agent:
            for agent in self.agents:
                if agent.name == self.agent:
                    return agent.model
        return self.health.model if self.health else None

    def set_agent(self, name: str | None) -> None:
        self.agent = name
        self._set_status(agent=name, model=self.model_override or self.default_model())

    def new_session(self, session_id: str | None = None, title: str | None = None) -> None:
        self.session_id = session_id
        self.session_title = title
        self.usage = Usage()
        self.sub_title = title or ""
        self._set_status(usage=self.usage, session_title=title)

    def refresh_session_title(self) -> None:
        if self.session_id and self.runtime is not None:
            self.run_worker(
                self._fetch_title(self.runtime, self.session_id), group="title", exclusive=True
            )

    async def _fetch_title(self, runtime: Runtime, session_id: str) -> None:
        try:
            info = await runtime.session(session_id)
        except Exception:
            return
        if session_id == self.session_id:
            self.session_title = info.title
            self.sub_title = info.title

    def update_mcp(self, servers: list[ServerInfo]) -> None:
        ready = sum(1 for s in servers if s.state in READY_STATES)
        failed = sum(1 for s in servers if s.state in FAILED_STATES)
        self._set_status(
            mcp_ready=ready, mcp_failed=failed, mcp_starting=len(servers) - ready - failed
        )

    def apply_blink(self, root: Widget) -> None:
        """Stop cursors blinking under ``root`` when the app was made with ``cursor_blink=False``."""
        if self.cursor_blink:
            return
        for widget in root.query("Input, TextArea"):
            widget.cursor_blink = False  # type: ignore[attr-defined]

    def run_slash(self, name: str, args: str) -> None:
        """Run a slash command from outside the input (the command palette)."""
        if self._chat is not None:
            self._chat.run_worker(self._chat.run_command(name, args))
