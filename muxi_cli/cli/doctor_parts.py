"""``muxi doctor``'s rows about the installed parts of muxi (muxi_cli/parts.py) and the
stored OAuth logins of remote MCP servers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from muxi_cli import parts
from muxi_cli.cli.doctor import Check, Status

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation


def check_parts(local_profile: bool) -> list[Check]:
    """One row per part: installed, or what is missing and the command that adds it.

    A missing part is a failure only when the selected profile needs it (agents
    on this machine without the local part); long-term memory missing there is
    a warning (agents run without it); everything else is information.
    """
    checks = []
    for part in parts.PARTS:
        name = f"part {part.name}"
        if part.installed():
            extra = f" [{part.extra}]" if part.extra else ""
            checks.append(Check(name, "ok", f"installed{extra}: {part.title}"))
            continue
        status: Status = "info"
        if local_profile and part.name == "local":
            status = "fail"
        elif local_profile and part.name == "memory" and parts.has("local"):
            status = "warn"
        detail = f"not installed: {part.title}"
        if part.name == "memory" and status == "warn":
            detail += " (agents run without long-term memory)"
        if status == "info":
            detail += f" ({part.install})"
        checks.append(Check(name, status, detail, part.install))
    return checks


def local_skipped() -> list[Check]:
    """The rows that need the formation schema, when the local part is missing."""
    why = "needs the local part (agents on this machine)"
    return [Check(name, "skip", why) for name in ("config", "providers", "mcp")]


def check_mcp_logins(formation: Formation) -> list[Check]:
    """The stored OAuth login of each remote server (the keyring only: no network)."""
    from muxi_cli.runtime.mcp_auth import oauth_rows  # deferred: only with remote servers

    if not any(s.url and s.enabled for s in formation.mcp_servers.values()):
        return []
    checks = []
    for row in oauth_rows(formation):
        label = f"mcp {row.server} login"
        if row.state == "signed in":
            checks.append(Check(label, "ok", row.text))
        elif row.state == "expired":
            checks.append(Check(label, "info", row.text))
        else:
            checks.append(
                Check(
                    label,
                    "info",
                    f"{row.text} (needed only if the server asks for OAuth)",
                    f"muxi mcp login {row.server}",
                )
            )
    return checks
