"""The client side of the MCP conformance suite (``scripts/mcp-conformance``).

The suite's client mode starts a scenario server of its own, then runs a
client command with the server's URL as the last argument and the scenario
name in ``MCP_CONFORMANCE_SCENARIO`` (some scenarios add a JSON object in
``MCP_CONFORMANCE_CONTEXT``, e.g. pre-registered client credentials). Its
checks judge what the client did on the wire, so the client must be muxi's
own: :func:`run_client` connects through
:class:`~muxi_cli.tools.mcp_client.MCPConnection`, the same connection a
formation's agents use, lists the tools and calls each one with arguments
generated from its input schema (the scenarios' tools, ``add_numbers``,
``test-tool``, ``test_client_elicitation_defaults`` and the SSE-retry tool,
are called this way without the client knowing any scenario by name).

Where a person would act, it acts as one: a login when muxi says one is due
(what ``muxi mcp login`` does, :func:`muxi_cli.tools.mcp_oauth.login`; the
browser is ``$BROWSER``), and an elicitation form submitted as muxi shows it
(:func:`form_as_shown`, answered through :mod:`muxi_cli.tools.mcp_input`).

It is not ``muxi mcp test``: that command also sends invalid arguments on
purpose and judges the server; this one behaves like an agent's connection
and judges nothing (the suite does).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muxi_cli.mcpdev.examples import arguments_example
from muxi_cli.tools.mcp_input import CURRENT_INPUT, ElicitAnswer, SamplingRefused

#: Environment variables the suite sets for the client command.
SCENARIO_ENV = "MCP_CONFORMANCE_SCENARIO"
CONTEXT_ENV = "MCP_CONFORMANCE_CONTEXT"


@dataclass(slots=True)
class ClientRun:
    """What the client did, for its stdout (the suite saves it per scenario)."""

    scenario: str
    connected: bool = False
    error: str = ""
    tools: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.connected and all(call["ok"] for call in self.calls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "connected": self.connected,
            "error": self.error,
            "tools": self.tools,
            "calls": self.calls,
            "ok": self.ok,
        }


def scenario_context(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The suite's ``MCP_CONFORMANCE_CONTEXT`` (an empty dict when absent or not JSON)."""
    raw = (os.environ if environ is None else environ).get(CONTEXT_ENV, "")
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _config(url: str, timeout: float, context: Mapping[str, Any]) -> Any:
    """The server entry a formation would have for ``url``.

    A scenario that hands out pre-registered client credentials
    (``auth/pre-registration``) gets them as the entry's ``oauth.client_id`` and
    ``oauth.client_secret``, as a person would write them in muxi.yaml.
    """
    from muxi_cli.config.schema import MCPServerConfig  # deferred: loads pydantic

    entry: dict[str, Any] = {"url": url, "startup_timeout": timeout, "call_timeout": timeout}
    if context.get("client_id"):
        entry["oauth"] = {
            "client_id": context["client_id"],
            "client_secret": context.get("client_secret"),
        }
    return MCPServerConfig.model_validate(entry)


def form_as_shown(schema: Any) -> dict[str, Any]:
    """The answer of a person who submits muxi's form for ``schema`` unchanged.

    The form is the inspector's (muxi_cli/mcpdev/forms.py): its inputs start at
    the schema's defaults, and the submitted object leaves empty ones out.
    """
    from muxi_cli.mcpdev.forms import build_arguments, tool_fields

    fields = tool_fields(schema)
    values = {
        f.name: f.default if f.kind in ("boolean", "enum") else f.initial_text()
        for f in fields
        if f.has_default
    }
    return build_arguments(fields, values)


class _Person:
    """The conformance run's user: submits every form as shown, allows no sampling."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    async def elicit(self, request: Any) -> Any:
        if request.mode != "form":
            self._say(f"elicitation ({request.mode}): declined")
            return ElicitAnswer(action="decline")
        content = form_as_shown(request.schema)
        self._say(f"elicitation: accepted {json.dumps(content)}")
        return ElicitAnswer(action="accept", content=content)

    async def sample(self, request: Any) -> Any:
        raise SamplingRefused("no model in a conformance run")


def _login_due(conn: Any) -> bool:
    return "login required" in str(getattr(conn, "auth", None) or "")


async def _login(config: Any, timeout: float, say: Callable[[str], None]) -> bool:
    """What a person does when muxi says a login is due: ``muxi mcp login``.

    The browser is ``webbrowser``'s, so ``$BROWSER`` decides what opens the URL
    (scripts/conformance/browser in the suite's runs).
    """
    import webbrowser  # deferred: only a login opens a browser

    from muxi_cli.tools import mcp_oauth  # deferred: only a login needs the keyring

    try:
        await mcp_oauth.login(
            "conformance",
            config,
            show_url=lambda url: say(f"login: open {url}"),
            open_browser=webbrowser.open,
            timeout=timeout,
        )
    except Exception as exc:
        from muxi_cli.tools.mcp_client import describe_error  # deferred: loads the MCP SDK

        say(f"login: failed: {describe_error(exc)}")
        return False
    say("login: done")
    return True


async def _connect(config: Any, timeout: float) -> Any:
    from muxi_cli.tools.mcp_client import MCPConnection  # deferred: loads the MCP SDK

    conn = MCPConnection("conformance", config, Path.cwd())
    conn.start()
    await conn.wait_settled(timeout + 2)
    return conn


async def _close(conn: Any) -> None:
    await conn.stop()
    await conn.wait_settled(5)


async def run_client(
    url: str,
    *,
    scenario: str = "",
    context: Mapping[str, Any] | None = None,
    timeout: float = 25.0,
    emit: Callable[[str], None] | None = None,
) -> ClientRun:
    """Connect to ``url`` as a formation would, list the tools, call each once.

    A server that asks for a login gets one (then a new connection), as does a
    call refused for want of one (a scope step-up): once each.
    """
    # The connection imports the SDK when it starts, inside its startup timeout:
    # import it first, so a busy machine's slow import is not a slow server.
    import mcp  # noqa: F401  # deferred: the MCP SDK is slow to import
    import mcp_types  # noqa: F401  # deferred: mcp_types is slow to import

    from muxi_cli.tools.mcp_client import quiet_sdk_logging  # deferred: loads the MCP SDK

    say = emit or (lambda _line: None)
    run = ClientRun(scenario=scenario)
    quiet_sdk_logging()
    # Input a server asks for mid-call goes to the caller's channel (mcp_input).
    CURRENT_INPUT.set(_Person(say))
    config = _config(url, timeout, context or {})
    conn = await _connect(config, timeout)
    try:
        if conn.status().state != "ready" and _login_due(conn):
            say(f"connect: {conn.status().error}")
            await _close(conn)
            await _login(config, timeout, say)
            conn = await _connect(config, timeout)
        status = conn.status()
        if status.state != "ready":
            run.error = status.error or f"did not answer within {timeout:g}s"
            say(f"connect: {run.error}")
            return run
        run.connected = True
        run.tools = [tool.name for tool in conn.tools]
        say(f"connected: {len(run.tools)} tool(s): {', '.join(run.tools)}")
        for tool in list(conn.tools):
            arguments = arguments_example(tool.input_schema)
            outcome = await conn.call_tool(tool.name, arguments)
            if not outcome.ok and _login_due(conn):
                say(f"call {tool.name}: {outcome.content}")
                await _close(conn)
                await _login(config, timeout, say)
                conn = await _connect(config, timeout)
                outcome = await conn.call_tool(tool.name, arguments)
            run.calls.append(
                {
                    "tool": tool.name,
                    "arguments": arguments,
                    "ok": outcome.ok,
                    "result": str(outcome.content),
                }
            )
            say(f"call {tool.name} {json.dumps(arguments)}: {'ok' if outcome.ok else 'error'}")
    finally:
        await _close(conn)
    return run
