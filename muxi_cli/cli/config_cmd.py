"""``muxi config``: which formation file is used, what it resolves to, is it valid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from muxi_cli.cli import output
from muxi_cli.cli.context import state
from muxi_cli.errors import ConfigError, MuxiError

if TYPE_CHECKING:
    from muxi_cli.config.loader import FormationSource, LoadedFormation
    from muxi_cli.config.schema import Formation

app = typer.Typer(
    help="Show, locate and validate the formation file (muxi.yaml).",
    no_args_is_help=True,
)


def formation_source(ctx: typer.Context) -> FormationSource:
    """The formation source, telling a --config flag from $MUXI_CONFIG."""
    from muxi_cli.config.loader import locate_formation  # deferred: keeps start-up light

    explicit = state(ctx).config
    root = ctx.find_root()
    reason: Any = "flag"
    # Typer ships its own click: compare the enum member by name.
    if getattr(root.get_parameter_source("config"), "name", None) == "ENVIRONMENT":
        reason = "env"
    return locate_formation(explicit, explicit_reason=reason)


def _load(ctx: typer.Context, file: str | None = None) -> LoadedFormation:
    from muxi_cli.config.loader import load_formation  # deferred: keeps start-up light

    try:
        if file is not None:
            return load_formation(file)
        loaded = load_formation(formation_source(ctx).path)
    except MuxiError as exc:
        raise output.fail(exc) from None
    from muxi_cli.runtime.factory import LOCAL, selected_profile  # deferred: keeps start-up light

    profile = selected_profile(state(ctx).profile)
    if profile != LOCAL:  # the config commands read files here, never the server's formation
        output.info(
            f"note: this is this machine's formation; profile {profile!r} uses its server's "
            f"(see `muxi -P {profile} agents list`)"
        )
    return loaded


def _warn(loaded: LoadedFormation) -> None:

    for warning in loaded.warnings:
        output.warn(warning)


@app.command("path")
def path_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the formation file muxi uses, and why (flag, env, cwd, user dir, built-in)."""

    source = formation_source(ctx)
    exists = source.path is not None and source.path.is_file()
    if as_json:
        output.print_json(
            {
                "path": str(source.path) if source.path else None,
                "reason": source.reason,
                "explanation": source.explanation,
                "exists": exists,
            }
        )
        return
    typer.echo(str(source.path) if source.path else "(built-in)")
    output.info(source.explanation)
    if source.path is not None and not exists:
        output.warn(f"{source.path} does not exist; run `muxi init` to write one")
    elif source.path is None:
        output.info("run `muxi init` to write a muxi.yaml you can edit")


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of YAML.")] = False,
) -> None:
    """Print the resolved formation: defaults filled in, ${VAR}s expanded, secrets masked."""
    from muxi_cli.config.loader import mask_secrets  # deferred: keeps start-up light

    loaded = _load(ctx)
    _warn(loaded)
    data = mask_secrets(loaded.formation.model_dump(mode="json"))
    if as_json:
        output.print_json(data)
        return
    import yaml  # deferred: PyYAML is slow to import

    source = str(loaded.path) if loaded.path else "built-in formation"
    typer.echo(f"# resolved from {source}")
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n"))


def summary(loaded: LoadedFormation) -> dict[str, Any]:
    """A short description of a valid formation."""
    formation = loaded.formation
    return {
        "path": str(loaded.path) if loaded.path else None,
        "valid": True,
        "agents": [a.name for a in formation.agents],
        "default_agent": formation.default_agent,
        "default_model": formation.default_model,
        "mcp_servers": {name: s.transport for name, s in formation.mcp_servers.items()},
        "warnings": list(loaded.warnings),
    }


def unknown_providers(formation: Formation) -> dict[str, list[str]]:
    """Providers named in model references that muxi cannot build, with where they are used.

    Such a formation loads, but every turn that needs the model fails; ``validate``
    reports it up front.
    """
    from muxi_cli.config.providers import provider_status  # deferred: loads pydantic

    places: list[tuple[str, Any]] = [
        ("default_model", formation.default_model),
        ("router.model", formation.router.model),
        ("memory.extraction_model", formation.memory.extraction_model),
        ("memory.summary_model", formation.memory.summary_model),
    ]
    places += [(f"agents[{i}].model", agent.model) for i, agent in enumerate(formation.agents)]
    used: dict[str, list[str]] = {}
    for where, ref in places:
        if isinstance(ref, str):
            name = ref.split("/", 1)[0] if "/" in ref else ""
        else:
            name = str(getattr(ref, "provider", "") or "")
        if name:
            used.setdefault(name, []).append(where)
    return {
        name: keys for name, keys in used.items() if provider_status(name, formation).kind is None
    }


def check_providers(loaded: LoadedFormation) -> None:
    """Raise a ConfigError naming every model reference to an unknown provider."""

    unknown = unknown_providers(loaded.formation)
    if not unknown:
        return
    lines = [
        f"{', '.join(keys)}: unknown model provider {name!r} (not built in, not under providers:)"
        for name, keys in unknown.items()
    ]
    where = str(loaded.path) if loaded.path else "formation"
    first = next(iter(unknown))
    message = f"{where}: {lines[0]}" if len(lines) == 1 else f"{where}: {len(lines)} problems\n"
    if len(lines) > 1:
        message += "\n".join(f"  - {line}" for line in lines)
    raise ConfigError(
        message,
        hint=(
            f"Declare it, e.g. providers: {{{first}: {{type: openai, base_url: "
            "http://localhost:11434/v1}}; built in: anthropic, openai, ollama."
        ),
    )


@app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(help="Formation file to check (default: the one muxi would use)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a formation file. Exit 0 when valid, 2 with the problem when not."""
    from muxi_cli.config.loader import load_formation  # deferred: keeps start-up light

    try:
        loaded = (
            load_formation(file) if file is not None else load_formation(formation_source(ctx).path)
        )
        check_providers(loaded)
    except MuxiError as exc:
        if as_json:
            output.print_json({"valid": False, "error": exc.to_dict()})
            output.print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        raise output.fail(exc) from None
    _warn(loaded)
    info = summary(loaded)
    if as_json:
        output.print_json(info)
        return
    servers = info["mcp_servers"]
    agents = info["agents"]
    typer.echo(f"{info['path'] or 'built-in formation'}: valid")
    typer.echo(f"  agents ({len(agents)}): {', '.join(agents)} (default: {info['default_agent']})")
    if servers:
        listed = ", ".join(f"{name} ({kind})" for name, kind in servers.items())
        typer.echo(f"  mcp servers ({len(servers)}): {listed}")
    else:
        typer.echo("  mcp servers: none")
    typer.echo(f"  default model: {info['default_model'] or '(not set)'}")
