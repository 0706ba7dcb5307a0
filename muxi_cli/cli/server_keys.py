"""``muxi keys create|revoke`` and the server keys table of ``muxi keys list``.

These act on this machine's server key file (hashes only); a running
``muxi serve`` notices the change at once, no restart needed.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from muxi_cli.cli.keys import LIST_SECTIONS, app


def server_key_rows(ctx: typer.Context) -> list[dict[str, Any]]:
    """Rows of the "server keys" section: ids, roles, users, dates; never a secret."""
    from muxi_cli.server.auth import KeyStore

    rows = []
    for rec in KeyStore(env_admin_key="").records():
        rows.append(
            {
                "id": rec.id,
                "role": rec.role,
                "user": rec.user_id,
                "created": rec.created_at,
                "last_used": rec.last_used_at,
                "status": "active" if rec.active else f"revoked {rec.revoked_at}",
                "label": rec.label,
            }
        )
    return rows


LIST_SECTIONS.append(("server_keys", server_key_rows))


@app.command("create")
def create(
    role: Annotated[str, typer.Option("--role", help="admin or user.")] = "user",
    user: Annotated[
        str | None,
        typer.Option("--user", help="The user id a user key acts as (required for user keys)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="A note: who or what uses it.")
    ] = None,
) -> None:
    """Create a `muxi serve` API key. The key is printed once on stdout; only its hash is kept."""
    from muxi_cli.cli import output
    from muxi_cli.errors import MuxiError, UsageError
    from muxi_cli.server.auth import KeyStore

    try:
        if role not in ("admin", "user"):
            raise UsageError(f"unknown role {role!r}", hint="use --role admin or --role user")
        if role == "user" and not user:
            raise UsageError(
                "a user key needs --user ID", hint="e.g. muxi keys create --user alice"
            )
        rec, secret = KeyStore(env_admin_key="").create(role, user or "admin", label)
    except MuxiError as exc:
        raise output.fail(exc) from None
    typer.echo(secret)
    output.info(
        f"created {rec.role} key {rec.id} for user {rec.user_id}; it is shown only this once. "
        "On a client: muxi profile add NAME --url URL (paste it at the prompt)"
    )


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `muxi keys list`).")],
) -> None:
    """Revoke a `muxi serve` API key; a running server refuses it at once."""
    from muxi_cli.cli import output
    from muxi_cli.errors import MuxiError
    from muxi_cli.server.auth import KeyStore

    try:
        rec = KeyStore(env_admin_key="").revoke(key_id)
    except MuxiError as exc:
        raise output.fail(exc) from None
    output.info(f"revoked {rec.role} key {rec.id} (user {rec.user_id})")
