"""``muxi chat``: one turn from the command line (or the chat app with no message)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from muxi_cli.protocol.events import Event
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.runtime.base import Runtime

EXIT_CODES_HELP = """
\b
Exit codes:
  0    ok
  1    runtime or provider error
  2    usage or config error (also: no model provider usable)
  3    a tool call was denied (policy 'ask' without --yes, or 'deny'),
       or the server refused the request for a missing scope
  4    timeout
  130  interrupted (Ctrl-C); what was said so far is kept in the session
"""

CHAT_HELP = f"""Send one message to an agent and print the reply.

With no MESSAGE in a terminal, opens the chat app. With MESSAGE "-" the whole
prompt is read from stdin; otherwise piped stdin is sent along as an attachment
(`git diff | muxi chat "review this"`). Start a message with @agent to pick the agent.
{EXIT_CODES_HELP}"""


class Output(StrEnum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


def chat(
    ctx: typer.Context,
    message: Annotated[
        str | None,
        typer.Argument(
            metavar="MESSAGE", help='The message. "-" reads it from stdin.', show_default=False
        ),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option("--agent", "-a", metavar="NAME", help="Agent to answer (skips routing)."),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", metavar="ID", help="Continue this session (id or prefix)."),
    ] = None,
    continue_last: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the most recent session.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="PROVIDER/MODEL",
            help="Model override, e.g. openai/gpt-4o (a bare name uses the default provider).",
        ),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            "--system", metavar="TEXT", help="System message for this turn (replaces the agent's)."
        ),
    ] = None,
    output: Annotated[
        Output,
        typer.Option(
            "--output",
            "-o",
            help="text streams the reply; json prints one object; jsonl prints every event.",
        ),
    ] = Output.text,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="Ask the model for the whole reply at once.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Allow tool calls whose policy is 'ask' (otherwise they are denied).",
        ),
    ] = False,
    user: Annotated[
        str | None,
        typer.Option(
            "--user", metavar="ID", help="User id for memory and sessions (default: you)."
        ),
    ] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option(
            "--resource",
            "-r",
            metavar="SERVER:URI",
            help="Attach an MCP resource to the message (repeatable), e.g. docs:file:///notes.md.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No diagnostics on stderr (tool calls, routing).")
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Print the reply byte for byte (terminal escape sequences are removed otherwise).",
        ),
    ] = False,
) -> None:
    from muxi_cli.cli.context import state

    st = state(ctx)
    if message is None and sys.stdin.isatty() and sys.stdout.isatty():
        from muxi_cli.cli.tui_launch import launch_tui

        launch_tui(st, session_id=session, agent=agent, continue_last=continue_last)
        return

    from muxi_cli.cli.output import fail
    from muxi_cli.errors import UsageError
    from muxi_cli.protocol.records import Attachment, ChatRequest

    if session and continue_last:
        raise fail(UsageError("--session and --continue cannot be used together", hint="pick one"))
    attachments: list[Attachment] = []
    piped = not sys.stdin.isatty()
    if message is None or message == "-":
        text = sys.stdin.read() if piped else ""
        if not text.strip():
            raise fail(
                UsageError(
                    "no message given",
                    hint='pass a message: muxi chat "hello", or pipe one: echo hello | muxi chat -',
                )
            )
        message = text
    elif piped:
        extra = sys.stdin.read()
        if extra.strip():
            attachments.append(Attachment(name="stdin", content=extra))

    request = ChatRequest(
        message=message,
        agent=agent,
        session_id=session,
        user_id=user,
        attachments=attachments,
        approval="yes" if yes else "deny",
        model=model,
        system=system,
        stream=not no_stream,
    )
    import asyncio

    from muxi_cli.errors import ExitCode

    resources: list[tuple[str, str]] = []
    for spec in resource or []:
        server_name, sep, uri = spec.partition(":")
        if not sep or not server_name or not uri:
            raise fail(
                UsageError(
                    f"--resource {spec!r} is not SERVER:URI",
                    hint="e.g. --resource docs:file:///notes.md (see `muxi mcp resources`)",
                )
            )
        resources.append((server_name, uri))

    renderer = _Renderer(output.value, quiet=quiet, stream=not no_stream, raw=raw)
    try:
        code = asyncio.run(_run(ctx, request, renderer, continue_last, resources))
    except KeyboardInterrupt:
        renderer.interrupted()
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    raise typer.Exit(code)


chat.__doc__ = CHAT_HELP


async def _run(
    ctx: typer.Context,
    request: ChatRequest,
    renderer: _Renderer,
    continue_last: bool,
    resources: list[tuple[str, str]],
) -> int:
    from muxi_cli.cli.context import acting_user, runtime_for
    from muxi_cli.errors import MuxiError

    try:
        async with runtime_for(ctx) as runtime:
            if request.user_id is not None:  # a user key cannot chat as someone else
                request.user_id = await acting_user(runtime, request.user_id)
            if continue_last:
                request.session_id = await _last_session(runtime, request.user_id)
            for server_name, uri in resources:
                from muxi_cli.protocol.records import Attachment

                text = await runtime.mcp_read_resource(server_name, uri)
                request.attachments.append(Attachment(name=f"{server_name}:{uri}", content=text))
            async with await runtime.chat(request) as turn:
                renderer.run_id, renderer.session_id = turn.run_id, turn.session_id
                async for event in turn.events():
                    renderer.event(event)
            if not renderer.quiet:
                await _report_server_failures(runtime)
    except MuxiError as exc:
        renderer.failed(exc)
    return renderer.finish()


async def _report_server_failures(runtime: Runtime) -> None:
    """Tell the user (on stderr) about MCP servers that could not start."""
    from muxi_cli.cli.output import warn

    try:
        servers = await runtime.mcp_servers()
    except Exception:
        return
    for server in servers:
        if server.state == "failed":
            warn(f"MCP server '{server.name}' is not available: {server.error or 'failed'}")


async def _last_session(runtime: Runtime, user_id: str | None) -> str:
    from muxi_cli.errors import NotFoundError

    sessions = await runtime.sessions(user_id=user_id, limit=1)
    if not sessions:
        raise NotFoundError(
            "there is no earlier session to continue", hint='start one: muxi chat "hello"'
        )
    return sessions[0].id


class _Renderer:
    """Turns events into the chosen output format; decides the exit code."""

    def __init__(self, output: str, *, quiet: bool, stream: bool, raw: bool = False) -> None:
        from muxi_cli.termtext import ControlStripper

        self.output = output
        self.quiet = quiet
        self.stream = stream
        #: Model text may carry escape sequences (OSC 52 writes the clipboard,
        #: OSC 0 the title, CSI moves the cursor): removed unless --raw.
        self.raw = raw
        self._strip = ControlStripper()
        self.text_parts: list[str] = []
        self.final_text: str | None = None
        self.agent: str | None = None
        self.session_id: str | None = None
        self.run_id: str | None = None
        self.routing: dict[str, Any] | None = None
        self.memories: list[Any] = []
        self.usage: dict[str, Any] = {
            "model": None,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": None,
        }
        self.tool_calls: dict[str, dict[str, Any]] = {}
        #: run id -> agent, so a delegate's tool calls name the agent that made them.
        self.run_agents: dict[str, str] = {}
        self.error: dict[str, Any] | None = None
        self.denied = False
        self.notices: list[dict[str, Any]] = []
        self.printed_any = False
        self.ended_with_newline = True

    # ------------------------------------------------------------ diagnostics

    def _diag(self, text: str) -> None:
        if self.quiet or self.output != "text":
            return
        from muxi_cli.cli.output import err_console
        from muxi_cli.termtext import strip_controls

        text = strip_controls(text)  # tool arguments and errors come from the model

        if not self.ended_with_newline and self.printed_any:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.ended_with_newline = True
        err_console().print(text, highlight=False, markup=True)

    # ----------------------------------------------------------------- events

    def event(self, event: Event) -> None:
        from rich.markup import escape

        from muxi_cli.protocol import events as ev

        if self.output == "jsonl":
            from muxi_cli.termtext import json_controls_escaped

            sys.stdout.write(json_controls_escaped(event.to_json()) + "\n")
            sys.stdout.flush()
        nested = event.nested
        kind = event.type
        if kind == ev.RUN_STARTED:
            self.run_agents[event.run_id] = str(event.get("agent"))
        if kind == ev.RUN_STARTED and not nested:
            self.agent = event.get("agent")
        elif kind == ev.AGENT_ROUTED and not nested:
            self.agent = event.get("agent")
            self.routing = {k: event.get(k) for k in ("agent", "method", "reason", "cached")}
            for extra in ("router_model", "failure"):  # present when the router was asked
                if extra in event.payload:
                    self.routing[extra] = event.get(extra)
            if event.get("failure"):  # the router's answer was unusable: say why, visibly
                self._diag(f"[yellow]warning:[/yellow] {escape(str(event.get('reason')))}")
            elif event.get("method") in ("llm", "cached", "default"):
                why = escape(str(event.get("reason")))
                if event.get("cached"):
                    why += ", cached"
                self._diag(f"[dim]→ {escape(str(event.get('agent')))} ({why})[/dim]")
        elif kind == ev.MEMORY_RECALLED and not nested:
            self.memories = list(event.get("items") or [])
        elif kind == ev.TEXT_DELTA and not nested:
            text = str(event.get("text") or "")
            self.text_parts.append(text)
            if self.output == "text" and self.stream and text:
                self._write(text if self.raw else self._strip.feed(text))
        elif kind == ev.TOOL_REQUESTED:
            call = self.tool_calls.setdefault(str(event.get("call_id")), {})
            call.update(
                call_id=event.get("call_id"),
                server=event.get("server"),
                tool=event.get("tool"),
                arguments=event.get("arguments"),
                agent=self.run_agents.get(event.run_id, self.agent),
            )
            args = _short_json(event.get("arguments"))
            self._diag(
                f"[dim]⚙ {escape(str(event.get('server')))}/{escape(str(event.get('tool')))} {escape(args)}[/dim]"
            )
        elif kind == ev.TOOL_APPROVAL:
            call = self.tool_calls.setdefault(str(event.get("call_id")), {})
            call["decision"] = event.get("decision")
            if event.get("decision") == "denied":
                self.denied = True
                self._diag(
                    f"[yellow]✗ denied {escape(str(call.get('tool')))} by {escape(str(event.get('by')))}"
                    " (pass --yes to allow tools whose policy is 'ask')[/yellow]"
                )
        elif kind == ev.TOOL_RESULT:
            call = self.tool_calls.setdefault(str(event.get("call_id")), {})
            call.update(
                ok=event.get("ok"),
                content=event.get("content"),
                duration_ms=event.get("duration_ms"),
            )
            if not event.get("ok") and call.get("decision") != "denied":
                self._diag(
                    f"[red]✗ {escape(str(call.get('tool')))}: {escape(str(event.get('content'))[:200])}[/red]"
                )
        elif kind == ev.USAGE:
            self.usage["model"] = event.get("model") if not nested else self.usage["model"]
            self.usage["input_tokens"] += int(event.get("input_tokens") or 0)
            self.usage["output_tokens"] += int(event.get("output_tokens") or 0)
            cost = event.get("cost_usd")
            if cost is not None:
                self.usage["cost_usd"] = (self.usage["cost_usd"] or 0.0) + float(cost)
            if event.get("unknown"):
                # The server reported no token counts: a lower bound, never a silent zero.
                self.usage["unknown"] = True
        elif kind == ev.NOTICE:
            message = str(event.get("message") or "")
            self.notices.append({"code": event.get("code"), "message": message})
            if not self.quiet:
                # A warning goes to stderr in every output mode (stdout stays the reply/JSON).
                from muxi_cli.cli.output import err_console

                if self.output == "text" and not self.ended_with_newline and self.printed_any:
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                    self.ended_with_newline = True
                err_console().print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)
        elif kind == ev.RUN_COMPLETED and not nested:
            self.final_text = str(event.get("text") or "")
        elif kind == ev.RUN_FAILED and not nested:
            self.error = dict(event.get("error") or {})

    def _write(self, text: str) -> None:
        if not text:
            return
        sys.stdout.write(text)
        sys.stdout.flush()
        self.printed_any = True
        self.ended_with_newline = text.endswith("\n")

    def failed(self, exc: Exception) -> None:
        from muxi_cli.errors import MuxiError

        if isinstance(exc, MuxiError):
            self.error = exc.to_dict()

    def interrupted(self) -> None:
        if self.output == "text" and self.printed_any and not self.ended_with_newline:
            sys.stdout.write("\n")
            sys.stdout.flush()
        from muxi_cli.cli.output import err_console

        err_console().print("[dim]interrupted; what was said so far is kept in the session[/dim]")

    # ----------------------------------------------------------------- finish

    @property
    def reply(self) -> str:
        return self.final_text if self.final_text is not None else "".join(self.text_parts)

    def finish(self) -> int:
        from muxi_cli.cli.output import print_error, print_json
        from muxi_cli.errors import ExitCode, MuxiError, exit_code_for

        if self.output == "text":
            from muxi_cli.termtext import strip_controls

            if not self.stream and self.reply:
                self._write(self.reply if self.raw else strip_controls(self.reply))
            elif not self.raw:
                self._write(self._strip.flush())  # a sequence cut off at the very end
            if self.printed_any and not self.ended_with_newline:
                sys.stdout.write("\n")
            sys.stdout.flush()
        elif self.output == "json":
            print_json(
                {
                    "reply": self.reply,
                    "agent": self.agent,
                    "session_id": self.session_id,
                    "run_id": self.run_id,
                    "routing": self.routing,
                    "usage": self.usage,
                    "tool_calls": list(self.tool_calls.values()),
                    "memories": self.memories,
                    "denied": self.denied,
                    "notices": self.notices,
                    "error": self.error,
                }
            )
        if self.error is not None:
            err = MuxiError.from_dict(self.error)
            print_error(err)
            return exit_code_for(str(self.error.get("code")))
        if self.denied:
            return ExitCode.TOOL_DENIED
        return ExitCode.OK


def _short_json(value: Any, limit: int = 120) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
