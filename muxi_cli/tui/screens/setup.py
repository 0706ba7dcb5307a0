"""First run: no model is usable yet. Store a key or point at a local server."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static, TabbedContent, TabPane, Tabs

from muxi_cli.errors import MuxiError
from muxi_cli.tui import firstrun


class SetupScreen(Screen[str | None]):
    """Dismissed with a short description of what was configured, or None when skipped."""

    DEFAULT_CSS = """
    SetupScreen { align: center middle; }
    SetupScreen > VerticalScroll {
        width: 84; max-width: 96%; height: auto; max-height: 96%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    SetupScreen .title { text-style: bold; color: $accent; }
    SetupScreen .lead { margin-bottom: 1; }
    SetupScreen .hint { color: $text-muted; width: 100%; }
    SetupScreen .error { color: $error; width: 100%; height: auto; }
    SetupScreen TabbedContent { height: auto; }
    SetupScreen TabPane { height: auto; padding: 1 0 0 0; }
    SetupScreen Input { margin-bottom: 1; }
    SetupScreen .buttons { height: auto; align-horizontal: right; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "skip", "Skip"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(self, config_path: str | None = None, problem: str | None = None) -> None:
        super().__init__()
        self.config_path = config_path
        self.problem = problem

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Welcome to muxi", classes="title")
            yield Static(
                "No model is configured yet. Store an API key (kept in your OS keyring), "
                "or point muxi at a local OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio).",
                classes="lead",
            )
            with TabbedContent(id="setup-tabs"):
                with TabPane("Anthropic key", id="anthropic"):
                    yield Input(placeholder="sk-ant-…", password=True, id="anthropic-key")
                    yield Label("Create a key in the Anthropic console.", classes="hint")
                with TabPane("OpenAI key", id="openai"):
                    yield Input(placeholder="sk-…", password=True, id="openai-key")
                    yield Label("Create a key in the OpenAI dashboard.", classes="hint")
                with TabPane("Local server", id="local"):
                    yield Input("http://localhost:11434/v1", placeholder="Base URL", id="local-url")
                    yield Input(placeholder="Model name, e.g. llama3.2", id="local-model")
                    yield Label(self._local_target(), classes="hint", id="local-target")
            yield Label(self.problem or "", classes="error", id="setup-error")
            with Horizontal(classes="buttons"):
                yield Button("Skip", id="skip")
                yield Button("Save and start", id="save", variant="primary")
            yield Label("Enter saves · Tab moves · Esc skips · Ctrl+Q quits", classes="hint")

    def _local_target(self) -> str:
        path, exists = firstrun.formation_target(self.config_path)
        if exists:
            return f"muxi adds this server to {path} (its other settings stay)."
        return f"muxi writes this to {path} (a new file)."

    def on_mount(self) -> None:
        # Focus once the tabs exist (focusing inside a pane activates its tab).
        self.call_after_refresh(self.query_one("#anthropic-key", Input).focus)
        apply = getattr(self.app, "apply_blink", None)
        if apply is not None:
            apply(self)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane
        focused = self.focused
        if isinstance(focused, Tabs) or (focused is not None and pane in focused.ancestors):
            return  # moving along the tab row, or already in this pane: leave focus alone
        inputs = list(pane.query(Input))
        if inputs:
            target = next((i for i in inputs if not i.value), inputs[0])
            self.call_after_refresh(target.focus)  # the pane becomes visible on the next refresh

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "local-url":
            self.query_one("#local-model", Input).focus()
            return
        self.save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.save()
        else:
            self.action_skip()

    def _show_error(self, message: str) -> None:
        self.query_one("#setup-error", Label).update(message)

    def save(self) -> None:
        active = self.query_one(TabbedContent).active or "anthropic"
        try:
            if active in firstrun.KEY_PROVIDERS:
                key = self.query_one(f"#{active}-key", Input).value
                where = firstrun.store_provider_key(active, key)
                self.dismiss(firstrun.stored_message(active, where))
            else:
                url = self.query_one("#local-url", Input).value
                model = self.query_one("#local-model", Input).value
                path = firstrun.write_local_server(url, model, self.config_path)
                self.dismiss(f"Using local/{model.strip()} (written to {path}).")
        except MuxiError as exc:
            self._show_error(f"{exc.message}" + (f" — {exc.hint}" if exc.hint else ""))
        except OSError as exc:
            self._show_error(f"Could not save: {exc}")

    def action_skip(self) -> None:
        self.dismiss(None)
