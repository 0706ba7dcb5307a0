"""``muxi init``: write a commented starter ``muxi.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from muxi_cli.cli import output
from muxi_cli.errors import ConfigError, MuxiError, UsageError


def _target(path: str | None) -> Path:
    from muxi_cli.config.loader import FILE_NAMES  # deferred: keeps start-up light

    if path is None:
        return Path.cwd() / FILE_NAMES[0]
    target = Path(path).expanduser()
    if target.is_dir() or path.endswith(("/", "\\")) or not target.suffix:
        return target / FILE_NAMES[0]
    return target


def _provider_step(model: str | None) -> str:
    """The next step that makes the chosen model's provider usable."""
    provider, _, name = (model or "").partition("/")
    if provider in ("", "anthropic", "openai"):
        which = provider or "anthropic"
        other = "" if provider else " (or openai)"
        return f"add a key: `muxi keys set {which}`{other}, or export {which.upper()}_API_KEY"
    if provider == "ollama":
        return f"start Ollama and get the model: `ollama pull {name}`"
    return (
        f"declare the provider: under `providers:` add `{provider}: {{type: openai, "
        f"base_url: http://HOST:PORT/v1}}` ({provider!r} is not built in)"
    )


def init(
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            "-p",
            help="Where to write: a directory (gets muxi.yaml) or a file name. Default: ./muxi.yaml.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Default model as provider/model, e.g. openai/gpt-4o-mini."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite an existing file.")
    ] = False,
) -> None:
    """Write a commented starter muxi.yaml (agents, models, MCP servers, memory)."""
    from muxi_cli.config.starter import (  # deferred: keeps start-up light
        starter_yaml,
        valid_model_ref,
    )

    try:
        if model is not None and not valid_model_ref(model):
            raise UsageError(
                f"--model {model!r} is not a provider/model reference",
                hint="Write it as provider/model, e.g. anthropic/claude-sonnet-4-5 or ollama/llama3.2.",
            )
        target = _target(path)
        if target.exists() and not force:
            raise UsageError(
                f"{target} already exists",
                hint="Use --force to overwrite it, or --path to write somewhere else.",
            )
        name = target.resolve().parent.name or "my-agents"
        text = starter_yaml(model, name=name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot write {target}: {exc.strerror}",
                hint="Choose a writable location with --path.",
            ) from None
    except MuxiError as exc:
        raise output.fail(exc) from None

    typer.echo(str(target))
    err = output.err_console()
    err.print(f"[green]wrote[/green] {target}")
    steps = []
    if model is None:
        steps.append(
            "pick a model: set default_model in the file (or `muxi init --force --model provider/model`)"
        )
    steps.append(_provider_step(model))
    steps += [
        "check everything: `muxi doctor`",
        "validate after edits: `muxi config validate`",
        'start chatting: `muxi` (or `muxi chat "hello"`)',
    ]
    if target.resolve().parent != Path.cwd().resolve():
        steps.insert(0, f"use it: `muxi --config {target} ...` or run muxi from {target.parent}")
    err.print("[bold]next steps[/bold]")
    for number, step in enumerate(steps, 1):
        err.print(f"  {number}. {step}", markup=False, highlight=False)
