"""``muxi profile``: named connections to muxi servers.

A profile is a name and a URL in ``profiles.yaml``; its API key goes to the OS
keyring, read from a hidden prompt or stdin (never from the command line).
``local`` is built in and means "run agents in this process".
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from muxi_cli import secrets
from muxi_cli.cli import output
from muxi_cli.cli.secret_input import read_secret
from muxi_cli.errors import MuxiError, with_article
from muxi_cli.runtime import profiles
from muxi_cli.runtime.client import ServerClient

app = typer.Typer(
    help="Connect to muxi servers: add, list, use, show, remove and test connection profiles.",
    no_args_is_help=True,
)


async def _check(url: str, key: str | None) -> dict[str, Any]:
    """Health and auth of a server: raises a MuxiError saying what is wrong."""
    async with ServerClient(url, key, timeout=10.0) as client:
        return await client.check()


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Profile name, e.g. prod.")],
    url: Annotated[str, typer.Option("--url", help="Server URL, e.g. http://host:8765.")],
    description: Annotated[str, typer.Option("--description", help="A note for yourself.")] = "",
    check: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            "--check/--no-check",
            help="Check the server and the key before saving (default); --no-verify saves "
            "without asking the server.",
        ),
    ] = True,
    use: Annotated[bool, typer.Option("--use", help="Make it the active profile.")] = False,
) -> None:
    """Add (or replace) a profile. The API key is read from a hidden prompt or stdin.

    The server and the key are checked first: a key the server rejects (exit 2),
    or a server that cannot be reached or is not a muxi server (exit 1), saves
    nothing. --no-verify saves the profile without asking the server.
    """
    import asyncio  # deferred: asyncio is slow to import

    try:
        profiles.validate_name(name)
        clean_url = profiles.normalize_url(url)
        key = read_secret(f"API key for {name}", f"muxi profile add {name} --url URL")
    except MuxiError as exc:
        raise output.fail(exc) from None
    try:
        # Checked before anything is written: a bad key or URL must not replace a
        # working profile of the same name.
        me = asyncio.run(_check(clean_url, key)) if check else None
    except MuxiError as exc:
        output.warn(f"profile {name!r} not saved: the check against {clean_url} failed")
        exc.hint = (
            f"{exc.hint + '; ' if exc.hint else ''}`--no-verify` saves the profile without checking"
        )
        raise output.fail(exc) from None
    try:
        profile = profiles.add_profile(name, clean_url, description)
        where = profiles.store_key(name, key)
        if use:
            profiles.use_profile(name)
    except MuxiError as exc:
        raise output.fail(exc) from None
    output.info(f"added profile {name} -> {profile.url}; key {secrets.mask(key)} stored in {where}")
    if me is not None:
        output.info(
            f"checked: {me['role']} key for user {me['user_id']} (server {me['server_version']})"
        )
    else:
        output.warn(f"not checked (--no-verify): try it with `muxi profile test {name}`")
    if use:
        output.info(f"{name} is now the active profile")
    else:
        output.info(
            f"use it with `muxi --profile {name} ...` or make it the default: `muxi profile use {name}`"
        )


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List profiles; the active one is marked with *."""

    try:
        items = profiles.list_profiles()
        active = os.environ.get("MUXI_PROFILE") or profiles.active_profile_name() or profiles.LOCAL
        rows: list[dict[str, Any]] = []
        for p in items:
            source = "-" if p.local else profiles.profile_key(p.name)[1]
            rows.append(
                {
                    "name": p.name,
                    "active": p.name == active,
                    "url": p.url or "(in-process)",
                    "key": source,
                    "description": p.description,
                }
            )
    except MuxiError as exc:
        raise output.fail(exc) from None
    if as_json:
        output.print_json(rows)
        return
    from rich.markup import escape  # deferred: rich is slow to import

    columns = [output.Column("")]
    columns += [output.Column(h) for h in ("NAME", "URL", "KEY")]
    keys = ("name", "url", "key", "description")
    cells = [["*" if row["active"] else "", *(escape(str(row[k])) for k in keys)] for row in rows]
    output.print_table([*columns, output.Column("DESCRIPTION", wrap=True)], cells)


@app.command("use")
def use(
    name: Annotated[str, typer.Argument(help="Profile name ('local' for in-process).")],
) -> None:
    """Make a profile the default for every command (`--profile` still overrides it)."""

    try:
        profiles.use_profile(name)
    except MuxiError as exc:
        raise output.fail(exc) from None
    output.info(f"active profile: {name}")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a profile: URL, where its key comes from, the key masked."""

    try:
        p = profiles.get_profile(name)
        key, source = (None, "-") if p.local else profiles.profile_key(name)
        active = (profiles.active_profile_name() or profiles.LOCAL) == name
    except MuxiError as exc:
        raise output.fail(exc) from None
    data = {
        "name": p.name,
        "url": p.url or "(in-process)",
        "active": active,
        "key": secrets.mask(key) if key else None,
        "key_source": source,
        "description": p.description,
    }
    if as_json:
        output.print_json(data)
        return
    for k, v in data.items():
        typer.echo(f"{k + ':':<13}{'-' if v in (None, '') else v}")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Profile name.")]) -> None:
    """Remove a profile and its stored key."""

    try:
        was_active = profiles.remove_profile(name)
    except MuxiError as exc:
        raise output.fail(exc) from None
    output.info(
        f"removed profile {name}" + (" (the active profile is now local)" if was_active else "")
    )


@app.command("test")
def test(
    name: Annotated[str, typer.Argument(help="Profile name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check that the server answers and accepts the profile's key."""
    import asyncio  # deferred: asyncio is slow to import

    try:
        p = profiles.get_profile(name)
        if p.local:
            output.info("local runs in this process: nothing to connect to")
            return
        key, source = profiles.profile_key(name)
        me = asyncio.run(_check(p.url, key))
    except MuxiError as exc:
        raise output.fail(exc) from None
    result = {"profile": name, "url": p.url, "ok": True, "key_source": source, **me}
    if as_json:
        output.print_json(result)
        return

    typer.echo(
        f"ok: {p.url} is muxi {me['server_version']}; the key ({source}) is "
        f"{with_article(me['role'])} key for user {me['user_id']}"
    )
