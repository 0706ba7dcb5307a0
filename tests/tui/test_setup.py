"""First run: the setup screen stores a key or a local server, then chat starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from textual.widgets import Input, Select, TabbedContent

from muxi_cli import paths
from muxi_cli.errors import UsageError
from muxi_cli.providers import table
from muxi_cli.secrets import get_secret
from muxi_cli.tui import firstrun
from muxi_cli.tui.app import MuxiApp
from muxi_cli.tui.model import ErrorRecord
from muxi_cli.tui.screens.chat import ChatScreen
from muxi_cli.tui.screens.setup import SetupScreen
from muxi_cli.tui.widgets.prompt import PromptInput
from tests.tui.conftest import SIZE, until
from tests.tui.fake_runtime import FakeRuntime


class Factory:
    """Hands out a runtime with no model first, then working ones."""

    def __init__(self, models: list[str | None]) -> None:
        self.models = list(models)
        self.made: list[FakeRuntime] = []

    async def __call__(self) -> FakeRuntime:
        model = self.models.pop(0) if self.models else "fake/model-1"
        runtime = FakeRuntime(model=model)
        self.made.append(runtime)
        return runtime


async def test_setup_stores_a_key_then_chat_starts() -> None:
    factory = Factory([None, "anthropic/claude"])
    app = MuxiApp(factory, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
        await until(pilot, lambda: isinstance(app.focused, Input), "the key input to take focus")
        assert app.focused.password
        await pilot.press("enter")  # empty key: an error, still on the setup screen
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        assert "empty" in str(app.screen.query_one("#setup-error").render())
        await pilot.press(*"sk-ant-test-123", "enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, ChatScreen) and app.runtime is not None,
            "the chat",
        )
        assert get_secret("provider:anthropic") == "sk-ant-test-123"
        assert len(factory.made) == 2 and factory.made[0].aclosed
        assert app.runtime is factory.made[1]
        assert isinstance(app.focused, PromptInput)
        assert app.status.model == "anthropic/claude"


async def test_setup_local_server_writes_the_formation() -> None:
    factory = Factory([None, "local/llama3.2"])
    app = MuxiApp(factory, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input), "the setup screen")
        app.screen.query_one(TabbedContent).active = "local"
        await pilot.pause()
        url = app.screen.query_one("#local-url", Input)
        assert url.value == "http://127.0.0.1:11434/v1"  # Ollama first
        app.screen.query_one("#local-preset", Select).value = "llama-cpp"
        await until(pilot, lambda: url.value == "http://127.0.0.1:8080/v1", "the preset's URL")
        url.value = "http://127.0.0.1:8080/v1/"
        app.screen.query_one("#local-model", Input).focus()
        await pilot.press(*"llama3.2", "enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, ChatScreen) and app.runtime is not None,
            "the chat",
        )
    data = yaml.safe_load((paths.config_dir() / "muxi.yaml").read_text())
    assert data == {
        "providers": {
            "local": {
                "type": "openai",
                "base_url": "http://127.0.0.1:8080/v1",
                "preset": "llama-cpp",
            }
        },
        "default_model": "local/llama3.2",
    }


async def test_setup_stores_a_key_for_any_hosted_provider_in_the_table() -> None:
    factory = Factory([None, "groq/llama-3.3-70b-versatile"])
    app = MuxiApp(factory, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input), "the setup screen")
        app.screen.query_one("#key-provider", Select).value = "groq"
        key = app.screen.query_one("#key-input", Input)
        await until(pilot, lambda: key.placeholder == "GROQ_API_KEY", "the groq key variable")
        key.focus()
        await pilot.press(*"gsk-test-123", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat")
    assert get_secret("provider:groq") == "gsk-test-123"


def test_first_run_choices_are_the_provider_table() -> None:
    hosted = [s.name for s in firstrun.key_providers()]
    servers = [s.name for s in firstrun.server_presets()]
    for name in ("anthropic", "openai", "openrouter", "groq", "mistral", "deepseek", "gemini"):
        assert name in hosted
    for name in (
        "ollama",
        "lmstudio",
        "vllm",
        "llama-cpp",
        "llama-cpp-python",
        "openai-compatible",
    ):
        assert name in servers
    assert sorted(hosted + servers) == sorted(table.names())  # every entry is offered
    with pytest.raises(UsageError) as err:
        firstrun.store_provider_key("ollama", "k")  # a local server takes no key
    assert "groq" in (err.value.hint or "")


async def test_setup_shows_again_when_still_no_model_and_can_be_skipped() -> None:
    factory = Factory([None, None])
    app = MuxiApp(factory, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SetupScreen), "the setup screen")
        await pilot.press(*"sk-wrong", "enter")
        await until(
            pilot,
            lambda: len(factory.made) == 2 and isinstance(app.screen, SetupScreen),
            "setup again",
        )
        await until(
            pilot,
            lambda: "Still no usable model" in str(app.screen.query_one("#setup-error").render()),
            "the problem",
        )
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the chat")
        await until(
            pilot,
            lambda: any(isinstance(r, ErrorRecord) for r in app.chat.transcript.records),
            "the note",
        )
        error = next(r for r in app.chat.transcript.records if isinstance(r, ErrorRecord))
        assert error.code == "no_provider" and error.hint


async def test_remote_runtime_without_model_does_not_offer_setup() -> None:
    runtime = FakeRuntime(model=None, mode="remote", label="prod")
    app = MuxiApp(runtime=runtime, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app._settled.is_set(), "the runtime")
        assert isinstance(app.screen, ChatScreen)
        assert app.status.connection == "prod"


async def test_connection_failure_is_shown_and_app_stays_up() -> None:
    from muxi_cli.errors import ConnectionFailedError

    async def factory() -> FakeRuntime:
        raise ConnectionFailedError(
            "cannot reach https://muxi.example:7890", "Is `muxi serve` running there?"
        )

    app = MuxiApp(factory, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connect_error is not None, "the failure")
        await until(pilot, lambda: app.chat.transcript.records, "the error in the transcript")
        assert app.status.failed and not app.status.connected
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: len(app.chat.transcript.records) >= 2, "the second error")
        assert app.chat.prompt.text == "hello"  # kept
        assert app.is_running


def test_extends_an_existing_formation(tmp_path: Path) -> None:
    formation = tmp_path / "muxi.yaml"
    formation.write_text(
        "agents:\n  - name: helper\n    system_message: hi\nproviders:\n  openai: {api_key_env: X}\n"
    )
    path = firstrun.write_local_server("http://localhost:11434/v1", "qwen", str(formation))
    assert path == formation
    data = yaml.safe_load(formation.read_text())
    assert data["agents"][0]["name"] == "helper"
    assert data["providers"]["openai"] == {"api_key_env": "X"}
    assert data["providers"]["local"] == {"type": "openai", "base_url": "http://localhost:11434/v1"}
    assert data["default_model"] == "local/qwen"


def test_finds_the_formation_in_cwd(tmp_path: Path) -> None:
    (tmp_path / "muxi.yaml").write_text("default_model: openai/x\n")
    path = firstrun.write_local_server("http://localhost:1234/v1", "m")
    assert path.resolve() == (tmp_path / "muxi.yaml").resolve()


@pytest.mark.parametrize("url", ["", "localhost:11434", "ftp://x", "http://"])
def test_rejects_bad_urls(url: str) -> None:
    with pytest.raises(UsageError) as info:
        firstrun.normalise_base_url(url)
    assert info.value.hint


def test_rejects_bad_keys() -> None:
    with pytest.raises(UsageError):
        firstrun.store_provider_key("anthropic", "  ")
    with pytest.raises(UsageError):
        firstrun.store_provider_key("anthropic", "sk ant")
    with pytest.raises(UsageError):
        firstrun.store_provider_key("nonesuch", "k")  # not in the provider table


async def test_setup_errors_wrap_and_the_local_tab_names_the_file() -> None:
    factory = Factory([None])
    app = MuxiApp(factory, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input), "the setup screen")
        screen = app.screen
        target = str(screen.query_one("#local-target").render())
        assert str(paths.config_dir() / "muxi.yaml") in target  # no muxi.yaml here: the real path
        screen.query_one(TabbedContent).active = "local"
        await pilot.pause()
        screen.query_one("#local-model", Input).focus()
        await pilot.press("enter")  # no model name: the longest error with its hint
        await pilot.pause()
        error = screen.query_one("#setup-error")
        message = str(error.render())
        assert message.endswith("e.g. llama3.2")
        box = error.parent
        assert box is not None
        # The whole message is laid out inside the box: wrapped, not cut at the edge.
        assert error.region.right <= box.content_region.right
        assert error.size.width * error.size.height >= len(message)
        assert error.size.height >= 2


def test_formation_target_prefers_an_existing_file(tmp_path: Path) -> None:
    assert firstrun.formation_target() == (paths.config_dir() / "muxi.yaml", False)
    (tmp_path / "muxi.yaml").write_text("default_model: openai/x\n")
    path, exists = firstrun.formation_target()
    assert exists and path.resolve() == (tmp_path / "muxi.yaml").resolve()


async def test_setup_names_the_file_the_key_went_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_SECRETS_FILE", "1")  # no keyring: the 0600 secrets file
    factory = Factory([None, "openai/gpt"])
    app = MuxiApp(factory, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input), "the key input to take focus")
        await pilot.press(*"sk-ant-test-456", "enter")
        await until(pilot, lambda: app.runtime is not None, "the chat")
        said = [n.message for n in app._notifications]
        secrets_file = str(paths.config_dir() / "secrets.json")
        assert f"Stored your anthropic key in the file {secrets_file} (mode 0600)." in said


def test_stored_message_names_the_place() -> None:
    assert (
        firstrun.stored_message("openai", "file (/h/.config/muxi/secrets.json, mode 0600)")
        == "Stored your openai key in the file /h/.config/muxi/secrets.json (mode 0600)."
    )
    assert (
        firstrun.stored_message("anthropic", "keyring (keyring.backends.SecretService.Keyring)")
        == "Stored your anthropic key in the system keyring "
        "(keyring.backends.SecretService.Keyring)."
    )
