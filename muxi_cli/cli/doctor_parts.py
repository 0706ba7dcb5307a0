"""``muxi doctor``'s rows about the installed parts of muxi (muxi_cli/parts.py)."""

from __future__ import annotations

from muxi_cli import parts
from muxi_cli.cli.doctor import Check, Status


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
