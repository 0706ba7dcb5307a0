"""``muxi keys create|revoke`` and the server keys table of ``muxi keys list``.

With the local profile these act on this machine's server key file (hashes
only); a running ``muxi serve`` notices the change at once, no restart needed.
With a remote profile (``--profile``, ``MUXI_PROFILE`` or ``muxi profile use``)
they go to that server's key API, which needs the profile's key to be an admin key.

:func:`register` adds ``create`` and ``revoke`` to the ``muxi keys`` group;
``muxi keys list`` shows :func:`server_key_rows` as its "server keys" section.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from muxi_cli.cli import output
from muxi_cli.cli.context import formation_or_none, state
from muxi_cli.errors import MuxiError, UsageError
from muxi_cli.runtime import profiles
from muxi_cli.runtime.client import ServerClient


class _Remote:
    """The server behind a remote connection profile, reached over its key API."""

    def __init__(self, name: str, url: str, key: str | None) -> None:
        self.name, self.url, self.key = name, url, key

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import asyncio  # deferred: asyncio is slow to import

        async def send() -> Any:
            async with ServerClient(self.url, self.key, timeout=15.0) as client:
                client.require_key(
                    f"profile {self.name!r}",
                    f"add it again: muxi profile add {self.name} --url {self.url}",
                )
                return await client.request(method, path, json_body=body)

        return asyncio.run(send())


def _remote(ctx: typer.Context) -> _Remote | None:
    """The remote server these commands act on, or None for this machine's key file."""
    from muxi_cli.runtime.factory import LOCAL, selected_profile  # deferred: keeps start-up light

    name = selected_profile(state(ctx).profile)
    if name == LOCAL:
        return None
    profile = profiles.get_profile(name)
    key, _source = profiles.profile_key(name)
    return _Remote(name, profile.url, key)


def _row(rec: dict[str, Any]) -> dict[str, Any]:
    revoked = rec.get("revoked_at")
    return {
        "id": rec.get("id"),
        "role": rec.get("role"),
        "user": rec.get("user_id"),
        "created": rec.get("created_at"),
        "last_used": rec.get("last_used_at"),
        "status": "active" if not revoked else f"revoked {revoked}",
        "scopes": _scopes_text(rec),
        "label": rec.get("label"),
    }


def _scopes_text(rec: dict[str, Any]) -> str:
    """What ``list`` shows: the key's scopes, or where they come from."""
    scopes = rec.get("scopes")
    if rec.get("role") == "admin":
        return "all (admin)"
    if not isinstance(scopes, list):
        return "formation default"
    return " ".join(str(s) for s in scopes) or "none"


def _check_scopes(ctx: typer.Context, role: str, scopes: list[str]) -> list[str] | None:
    """The --scope values validated (syntax, and names against the formation when it loads)."""
    from muxi_cli.config.access import check_scopes  # deferred: loads pydantic
    from muxi_cli.server.scopes import unknown_names  # deferred: loads pydantic

    if not scopes:
        return None
    if role == "admin":
        raise UsageError(
            "admin keys may do everything; --scope is for user keys",
            hint="drop --scope, or create a user key: --role user --user ID",
        )
    try:
        checked = check_scopes(scopes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    unknown = unknown_names(checked, formation_or_none(ctx))
    if unknown:
        raise UsageError(
            f"--scope {unknown[0]} names no agent or scope set of the formation",
            hint="see the agents with `muxi agents list` and the sets under server.scope_sets",
        )
    return checked


def server_key_rows(ctx: typer.Context) -> list[dict[str, Any]]:
    """Rows of the "server keys" section: ids, roles, users, dates; never a secret."""
    from muxi_cli.runtime.admin import local_keys  # deferred: loads asyncio

    remote = _remote(ctx)
    if remote is not None:
        return [_row(rec) for rec in remote.call("GET", "/v1/keys")]
    return [_row(rec.public_dict()) for rec in local_keys().records()]


def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="admin or user.")] = "user",
    user: Annotated[
        str | None,
        typer.Option("--user", help="The user id a user key acts as (required for user keys)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="A note: who or what uses it.")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="What a user key may do (repeatable): *, system, agent:NAME, model:REF, "
            "approve:TOOL, set:NAME. Without it: the formation's default (docs/security.md).",
        ),
    ] = None,
) -> None:
    """Create a `muxi serve` API key. The key is printed once on stdout; only its hash is kept."""
    from muxi_cli.runtime.admin import local_keys  # deferred: loads asyncio

    try:
        if role not in ("admin", "user"):
            raise UsageError(f"unknown role {role!r}", hint="use --role admin or --role user")
        if role == "user" and not user:
            raise UsageError(
                "a user key needs --user ID", hint="e.g. muxi keys create --user alice"
            )
        remote = _remote(ctx)
        scopes = (
            _check_scopes(ctx, role, scope or [])
            if remote is None
            else (list(scope) if scope else None)  # the server checks against its formation
        )
        if remote is None:
            rec, secret = local_keys().create(role, user or "admin", label, scopes)
            key_id, key_role, key_user, url = rec.id, rec.role, rec.user_id, "URL"
        else:
            body: dict[str, Any] = {"role": role, "user_id": user or "admin", "label": label}
            if scopes is not None:
                body["scopes"] = scopes
            made = remote.call("POST", "/v1/keys", body)
            secret, key_id, key_role, key_user = (
                made["key"],
                made["id"],
                made["role"],
                made["user_id"],
            )
            url = remote.url
    except MuxiError as exc:
        raise output.fail(exc) from None
    typer.echo(secret)
    where = "" if remote is None else f" on {remote.url} (profile {remote.name})"
    granted = "" if not scope else f" with scopes {' '.join(scope)}"
    output.info(
        f"created {key_role} key {key_id} for user {key_user}{granted}{where}; it is shown only this "
        f"once. On a client: muxi profile add NAME --url {url} (paste it at the prompt)"
    )


def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (see `muxi keys list`).")],
) -> None:
    """Revoke a `muxi serve` API key; a running server refuses it at once."""

    from muxi_cli.runtime.admin import local_keys  # deferred: loads asyncio

    try:
        remote = _remote(ctx)
        if remote is None:
            rec = local_keys().revoke(key_id).public_dict()
        else:
            rec = remote.call("DELETE", f"/v1/keys/{quote(key_id, safe='')}")
    except MuxiError as exc:
        raise output.fail(exc) from None
    where = "" if remote is None else f" on {remote.url}"
    output.info(f"revoked {rec['role']} key {rec['id']} (user {rec['user_id']}){where}")


def register(app: typer.Typer) -> None:
    """Add ``create`` and ``revoke`` to the ``muxi keys`` group."""
    app.command("create")(create)
    app.command("revoke")(revoke)
