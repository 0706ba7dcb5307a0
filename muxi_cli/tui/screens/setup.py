"""First run: no model is usable yet. Store a key or point at a local server."""

from __future__ import annotations

import os
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Select, Static, TabbedContent, TabPane, Tabs

from muxi_cli.errors import MuxiError
from muxi_cli.providers import table
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
    SetupScreen .choice { height: auto; margin-bottom: 1; }
    SetupScreen .buttons { height: auto; align-horizontal: right; }
    """
    #: The key field, not the provider list above it, takes focus first.
    AUTO_FOCUS = "#key-input"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "skip", "Skip"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(self, config_path: str | None = None, problem: str | None = None) -> None:
        super().__init__()
        self.config_path = config_path
        self.problem = problem

    def compose(self) -> ComposeResult:
        # The choices are the provider table's: a new provider shows up here by itself.
        hosted = firstrun.key_providers()
        servers = firstrun.server_presets()
        first = hosted[0]
        server = table.get(firstrun.DEFAULT_SERVER_PRESET) or servers[0]
        with VerticalScroll():
            yield Static("Welcome to muxi", classes="title")
            yield Static(
                "No model is configured yet. Store an API key (kept in your OS keyring), "
                "or point muxi at a local OpenAI-compatible server "
                f"({', '.join(s.display_name for s in servers if s.local)}).",
                classes="lead",
            )
            with TabbedContent(id="setup-tabs"):
                with TabPane("API key", id="key"):
                    # Each list sits in its own box: when a pane hides, Textual moves focus
                    # to a focusable sibling, which would switch the tab straight back.
                    with Vertical(classes="choice"):
                        yield Select(
                            [(s.display_name, s.name) for s in hosted],
                            value=first.name,
                            allow_blank=False,
                            id="key-provider",
                        )
                    yield Input(placeholder=f"{first.key_env}", password=True, id="key-input")
                    yield Label(first.hint, classes="hint", id="key-hint")
                with TabPane("Local server", id="local"):
                    with Vertical(classes="choice"):
                        yield Select(
                            [(s.display_name, s.name) for s in servers],
                            value=server.name,
                            allow_blank=False,
                            id="local-preset",
                        )
                    yield Input(
                        server.resolved_base_url(os.environ) or "",
                        placeholder="Base URL",
                        id="local-url",
                    )
                    yield Input(placeholder="Model name, e.g. llama3.2", id="local-model")
                    yield Label(self._local_target(), classes="hint", id="local-target")
            yield Label(self.problem or "", classes="error", id="setup-error")
            with Horizontal(classes="buttons"):
                yield Button("Skip", id="skip")
                yield Button("Save and start", id="save", variant="primary")
            yield Label("Enter saves · Tab moves · Esc skips · Ctrl+Q quits", classes="hint")

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        spec = table.get(str(event.value))
        if spec is None:
            return
        if event.select.id == "key-provider":
            self.query_one("#key-input", Input).placeholder = spec.key_env or ""
            self.query_one("#key-hint", Label).update(spec.hint)
        elif event.select.id == "local-preset":
            url = spec.resolved_base_url(os.environ)
            if url:
                self.query_one("#local-url", Input).value = url

    def _local_target(self) -> str:
        path, exists = firstrun.formation_target(self.config_path)
        if exists:
            return f"muxi adds this server to {path} (its other settings stay)."
        return f"muxi writes this to {path} (a new file)."

    def on_mount(self) -> None:
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
        active = self.query_one(TabbedContent).active or "key"
        try:
            if active == "key":
                provider = str(self.query_one("#key-provider", Select).value)
                key = self.query_one("#key-input", Input).value
                where = firstrun.store_provider_key(provider, key)
                self.dismiss(firstrun.stored_message(provider, where))
            else:
                preset = str(self.query_one("#local-preset", Select).value)
                url = self.query_one("#local-url", Input).value
                model = self.query_one("#local-model", Input).value
                path = firstrun.write_local_server(url, model, self.config_path, preset)
                self.dismiss(f"Using local/{model.strip()} (written to {path}).")
        except MuxiError as exc:
            self._show_error(f"{exc.message}" + (f" — {exc.hint}" if exc.hint else ""))
        except OSError as exc:
            self._show_error(f"Could not save: {exc}")

    def action_skip(self) -> None:
        self.dismiss(None)
