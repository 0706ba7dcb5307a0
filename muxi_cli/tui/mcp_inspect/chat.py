"""``/mcp attach|detach|retry|inspect`` in the chat app.

``/mcp attach [--name NAME] TARGET`` adds an MCP server to the running
session through ``Runtime.mcp_attach`` (no restart: an author can try a
just-generated server with an agent at once), ``/mcp detach NAME`` removes
it, ``/mcp retry NAME`` restarts one (``Runtime.mcp_restart``: a server
that failed to start gets another go), ``/mcp inspect TARGET`` opens the inspector screen on a target (a
formation server name, a command line, or a URL). ``/mcp`` alone keeps
showing the servers table.

With a remote profile, attach and detach act on the server's runtime, so a
command line runs on the server's machine; a URL is the portable form.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from typing import TYPE_CHECKING, Any, Protocol

from muxi_cli.errors import UsageError
from muxi_cli.tui.mcp_inspect.screen import McpInspectScreen

if TYPE_CHECKING:
    from muxi_cli.protocol.records import ServerInfo
    from muxi_cli.runtime.base import Runtime

USAGE = (
    "/mcp shows the servers; /mcp attach [--name NAME] COMMAND-or-URL adds one to this session; "
    "/mcp detach NAME removes it; /mcp retry NAME restarts one; /mcp inspect NAME-COMMAND-or-URL opens the inspector; "
    "/mcp resources [SERVER] and /mcp prompts [SERVER] list them; /mcp read SERVER URI attaches "
    "a resource to your next message; /mcp prompt SERVER NAME [key=value ...] puts a prompt "
    "in the input."
)
VERBS = ("attach", "detach", "retry", "inspect", "resources", "read", "prompts", "prompt")
log = logging.getLogger(__name__)

#: How long /mcp attach waits to say whether the new server came up.
ATTACH_WAIT = 30.0


class ChatLike(Protocol):
    """What these commands need from the chat screen."""

    app: Any

    @property
    def muxi(self) -> Any: ...

    async def note(self, text: str, kind: str = "info") -> None: ...

    def attach_to_next(self, name: str, content: str) -> None: ...

    def fill_prompt(self, text: str) -> None: ...


async def mcp_command(chat: ChatLike, runtime: Runtime, verb: str, rest: str) -> None:
    """Run ``/mcp VERB REST``; MuxiErrors propagate to the chat's error display."""
    verb = verb.lower()
    if verb == "attach":
        await _attach(chat, runtime, rest)
    elif verb == "detach":
        await _detach(chat, runtime, rest)
    elif verb in ("retry", "restart"):
        await _retry(chat, runtime, rest)
    elif verb == "inspect":
        _inspect(chat, rest)
    elif verb in ("resources", "prompts"):
        await _listing(chat, runtime, verb, rest.strip() or None)
    elif verb == "read":
        await _read(chat, runtime, rest)
    elif verb == "prompt":
        await _prompt(chat, runtime, rest)
    else:
        raise UsageError(f"unknown /mcp command {verb!r}", USAGE)


async def _attach(chat: ChatLike, runtime: Runtime, rest: str) -> None:
    from muxi_cli.mcpdev.target import attach_spec  # deferred: keeps start-up light

    if not rest.strip():
        raise UsageError("/mcp attach needs a command or a URL", USAGE)
    name, server = attach_spec(rest)
    info = await runtime.mcp_attach(name, server)
    chat.muxi.update_mcp(await runtime.mcp_servers())
    await chat.note(f"Attached MCP server {name!r} ({info.transport}); starting it…")

    chat.app.run_worker(_report(chat, runtime, name, f"/mcp detach {name} removes it"))


def _one_name(rest: str, verb: str) -> str:
    """The one server name ``/mcp VERB NAME`` takes (a usage error otherwise)."""
    name = rest.strip()
    if not name or " " in name:
        raise UsageError(f"/mcp {verb} needs one server name", f"For example: /mcp {verb} weather")
    return name


async def _retry(chat: ChatLike, runtime: Runtime, rest: str) -> None:
    name = _one_name(rest, "retry")
    await runtime.mcp_restart(name)
    chat.muxi.update_mcp(await runtime.mcp_servers())
    await chat.note(f"Restarting MCP server {name!r}…")
    chat.app.run_worker(_report(chat, runtime, name, f"/mcp retry {name} tries again"))


async def _report(chat: ChatLike, runtime: Runtime, name: str, then: str) -> None:
    """Say how a server that was just (re)started came up; a failure with its whole error."""
    settled = await _wait_settled(runtime, name)
    chat.muxi.update_mcp(await runtime.mcp_servers())
    if settled is None:
        await chat.note(f"{name!r} is still starting; /mcp shows its state.", "warning")
    elif settled.state == "ready":
        await chat.note(
            f"{name!r} is ready: {settled.tool_count} tool(s) for the agents of this session."
        )
    else:
        error = (settled.error or settled.state).strip()
        log.warning("MCP server %r did not start: %s", name, error)
        head, _, rest = error.partition("\n")
        more = (
            f"\n{rest}" if rest else ""
        )  # the command line and stderr tail, as the runtime gave them
        await chat.note(f"{name!r} did not start: {head} ({then}).{more}", "warning")


async def _wait_settled(runtime: Runtime, name: str) -> ServerInfo | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ATTACH_WAIT
    while loop.time() < deadline:
        for info in await runtime.mcp_servers():
            if info.name == name and info.state != "starting":
                return info
        await asyncio.sleep(0.1)
    return None


async def _detach(chat: ChatLike, runtime: Runtime, rest: str) -> None:
    name = _one_name(rest, "detach")
    await runtime.mcp_detach(name)
    chat.muxi.update_mcp(await runtime.mcp_servers())
    await chat.note(f"Detached MCP server {name!r}: its tools are gone from this session.")


async def _listing(chat: ChatLike, runtime: Runtime, verb: str, server: str | None) -> None:
    from muxi_cli.tui.screens.info import TableScreen  # deferred: loads Textual

    if verb == "resources":
        items = await runtime.mcp_resources(server)
        rows = [
            (r["server"], r["uri"], r.get("name") or "", _line(r.get("description"))) for r in items
        ]
        columns: tuple[str, ...] = ("Server", "URI", "Name", "Description")
        title = "MCP resources (/mcp read SERVER URI attaches one to your next message)"
    else:
        items = await runtime.mcp_prompts(server)
        rows = [
            (
                p["server"],
                p["name"],
                ", ".join(a["name"] for a in p.get("arguments") or []),
                _line(p.get("description")),
            )
            for p in items
        ]
        columns = ("Server", "Prompt", "Arguments", "Description")
        title = "MCP prompts (/mcp prompt SERVER NAME key=value puts one in the input)"
    if not rows:
        await chat.note(f"No {verb}" + (f" on {server!r}." if server else " on the ready servers."))
        return
    chat.app.push_screen(TableScreen(title, columns, rows))


def _line(text: Any) -> str:
    first = str(text or "").strip().splitlines()
    return first[0][:80] if first else ""


async def _read(chat: ChatLike, runtime: Runtime, rest: str) -> None:
    server, _, uri = rest.strip().partition(" ")
    uri = uri.strip()
    if not server or not uri:
        raise UsageError(
            "/mcp read needs a server and a resource URI",
            "For example: /mcp read docs file:///notes.md (/mcp resources lists them)",
        )
    text = await runtime.mcp_read_resource(server, uri)
    chat.attach_to_next(f"{server}:{uri}", text)
    await chat.note(
        f"Attached {uri} from {server!r} ({len(text):,} characters) to your next message."
    )


async def _prompt(chat: ChatLike, runtime: Runtime, rest: str) -> None:

    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"cannot parse {rest!r}: {exc}", "Quote values with spaces.") from None
    if len(words) < 2:
        raise UsageError(
            "/mcp prompt needs a server and a prompt name",
            "For example: /mcp prompt demo greet who=Ada (/mcp prompts lists them)",
        )
    server, name, pairs = words[0], words[1], words[2:]
    arguments: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{pair!r} is not key=value", "For example: who=Ada")
        arguments[key] = value
    chat.fill_prompt(await runtime.mcp_get_prompt(server, name, arguments))
    await chat.note(f"Prompt {name!r} of {server!r} is in the input: edit it, then press Enter.")


def _inspect(chat: ChatLike, rest: str) -> None:

    from muxi_cli.mcpdev.session import (
        DevSession,  # deferred: loads muxi's config, mcpdev, paths and more
    )
    from muxi_cli.mcpdev.target import parse_target  # deferred: keeps start-up light

    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"cannot parse {rest!r}: {exc}", "Quote arguments with spaces.") from None
    if words and words[0] == "--":
        words = words[1:]
    if not words:
        raise UsageError("/mcp inspect needs a target", USAGE)
    target = parse_target(words, config_path=getattr(chat.muxi, "config_path", None))
    chat.app.push_screen(McpInspectScreen(DevSession(target), closable=True))
