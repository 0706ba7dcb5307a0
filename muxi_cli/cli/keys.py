"""``muxi keys``: model provider API keys in the OS keyring.

A key is read from a hidden prompt, or from stdin when stdin is not a
terminal (``pass show anthropic | muxi keys set anthropic``); never from the
command line, where it would land in shell history and ``ps``.

``muxi keys list`` is built from sections (:data:`LIST_SECTIONS`): the
provider keys here and the ``muxi serve`` keys of :mod:`muxi_cli.cli.server_keys`,
whose ``create`` and ``revoke`` commands ``muxi_cli.cli.app`` adds to this group.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from muxi_cli import secrets
from muxi_cli.cli import output
from muxi_cli.cli.context import formation_or_none
from muxi_cli.cli.output import Column, print_table
from muxi_cli.cli.secret_input import read_secret
from muxi_cli.cli.server_keys import server_key_rows
from muxi_cli.errors import ForbiddenError, MuxiError, NotFoundError, UsageError

if TYPE_CHECKING:
    from muxi_cli.config.providers import ProviderStatus

app = typer.Typer(
    help="Provider API keys (set, list, delete; kept in the OS keyring) and `muxi serve` API keys "
    "(create, list, revoke; on this machine, or on the server of a remote profile).",
    no_args_is_help=True,
)

_PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: One section of ``muxi keys list``: (title, rows builder). A builder gets the
#: Typer context and returns rows (dicts) for ``--json`` and the table.
ListSection = tuple[str, Callable[[typer.Context], list[dict[str, Any]]]]


def _check_provider(name: str) -> str:

    name = name.strip().lower()
    if not _PROVIDER_NAME.fullmatch(name):
        raise UsageError(
            f"invalid provider name {name!r}",
            hint="Use a provider name such as anthropic, openai or one under `providers:`.",
        )
    return name


def _warn_unknown(ctx: typer.Context, name: str) -> None:
    """A gentle note when ``name`` looks like a typo of a provider muxi knows."""

    from muxi_cli.config.providers import provider_names  # deferred: loads pydantic

    known = provider_names(formation_or_none(ctx))  # the provider table and the formation's
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        output.warn(f"{name!r} is not a provider muxi knows; did you mean {close[0]!r}?")
    else:
        output.warn(
            f"{name!r} is not in muxi's provider table; declare it under `providers:` in muxi.yaml "
            "to use it"
        )


@app.command("set")
def set_key(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="Provider name: anthropic, openai, ...")],
) -> None:
    """Store a provider's API key (read from a hidden prompt or stdin, never argv)."""

    try:
        name = _check_provider(provider)
        key = read_secret(f"{name} API key", f"muxi keys set {name}")
        where = secrets.set_secret(f"provider:{name}", key)
    except MuxiError as exc:
        raise output.fail(exc) from None
    output.info(f"stored the {name} key ({secrets.mask(key)}) in {where}")
    _stop_hosts()
    _warn_unknown(ctx, name)
    if where.startswith("file"):
        output.warn(
            "no OS keyring is available, so the key is in a file readable only by you; "
            "see `muxi doctor`"
        )


@app.command("delete")
def delete_key(
    provider: Annotated[str, typer.Argument(help="Provider name.")],
) -> None:
    """Delete a stored provider key (environment variables are not touched)."""

    try:
        name = _check_provider(provider)
        if not secrets.delete_secret(f"provider:{name}"):
            raise NotFoundError(
                f"no stored key for {name}",
                hint="`muxi keys list` shows the keys muxi can see and where they come from.",
            )
    except MuxiError as exc:
        raise output.fail(exc) from None
    output.info(f"deleted the stored {name} key")
    _stop_hosts()


def _stop_hosts() -> None:
    """Warm hosts read provider keys once: the next command starts one that sees the change."""
    from muxi_cli.host.client import stop_hosts  # deferred: only after a key change

    stop_hosts(all_hosts=True, wait=0)


def _status_row(status: ProviderStatus) -> dict[str, Any]:
    row = status.to_dict()
    if not status.has_key and status.local:
        row["note"] = "local server, no key needed"
    elif not status.has_key:
        row["note"] = f"set {status.env_var} or run `muxi keys set {status.name}`"
    else:
        row["note"] = ""
    return row


def provider_rows(ctx: typer.Context) -> list[dict[str, Any]]:
    """Rows of the provider section of ``muxi keys list``."""
    from muxi_cli.config.providers import all_provider_status  # deferred: loads pydantic

    return [_status_row(s) for s in all_provider_status(formation_or_none(ctx))]


#: Sections of ``muxi keys list``; append ``(title, builder)`` to add one.
LIST_SECTIONS: list[ListSection] = [
    ("providers", provider_rows),
    ("server_keys", server_key_rows),
]


def _print_provider_table(rows: list[dict[str, Any]]) -> None:
    from rich.markup import escape  # deferred: rich is slow to import

    columns = [Column(h) for h in ("PROVIDER", "STATUS", "SOURCE", "KEY")]
    cells = []
    for row in rows:
        if row["set"]:
            status = "[green]set[/green]"
        elif row.get("local"):
            status = "[green]not needed[/green]"
        else:
            status = "[yellow]not set[/yellow]"
        plain = (row["name"], row["source"] or "-", row["key"] or "-", row["note"])
        name, source, key, note = (escape(str(v)) for v in plain)
        cells.append([name, status, source, key, note])
    print_table([*columns, Column("NOTE", wrap=True)], cells, title="Provider keys")


def _print_generic_table(title: str, rows: list[dict[str, Any]]) -> None:
    from rich.markup import escape  # deferred: rich is slow to import

    names = list(rows[0]) if rows else []
    # Free text (labels, notes, descriptions) wraps; ids, roles, users and dates show whole.
    columns = [Column(n.upper(), wrap=n in ("label", "note", "description")) for n in names]
    cells = [
        [escape("-" if row.get(c) in (None, "") else str(row.get(c))) for c in names]
        for row in rows
    ]
    print_table(columns, cells, title=title)


@app.command("list")
def list_keys(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show which keys are set, where each comes from, and the key masked."""

    sections = []
    for title, build in LIST_SECTIONS:
        try:
            sections.append((title, build(ctx)))
        except ForbiddenError as exc:
            # A user key's profile may not list the server's keys; the other
            # sections (this machine's provider keys) are still worth showing.
            output.info(f"{title.replace('_', ' ')}: not shown ({exc.message})")
        except MuxiError as exc:
            raise output.fail(exc) from None
    if as_json:
        output.print_json({title: rows for title, rows in sections})
        return
    for title, rows in sections:
        if title == "providers":
            _print_provider_table(rows)
        elif rows:
            _print_generic_table(title.replace("_", " ").capitalize(), rows)
