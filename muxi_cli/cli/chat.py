"""``muxi chat``: one turn from the command line (or the chat app with no message)."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from muxi_cli.cli.context import (
    acting_user,
    notice,
    refused_by_draining_host,
    runtime_for,
    state,
)
from muxi_cli.cli.output import err_console, fail, print_error, print_json, warn
from muxi_cli.cli.tui_launch import launch_tui
from muxi_cli.errors import ExitCode, MuxiError, NotFoundError, UsageError, exit_code_for
from muxi_cli.termtext import ControlStripper, json_controls_escaped, strip_controls

if TYPE_CHECKING:
    from muxi_cli.cli.attach import Inputs
    from muxi_cli.protocol.events import AgentRouted, Event
    from muxi_cli.protocol.records import ChatRequest
    from muxi_cli.protocol.reduce import Reducer
    from muxi_cli.runtime.base import Runtime

EXIT_CODES_HELP = """
\b
Exit codes:
  0    ok
  1    runtime or provider error
  2    usage or config error (also: no model provider usable; an attachment
       that is missing, empty, too large or unreadable as what it claims)
  3    a tool call was denied (policy 'ask' without --yes, or 'deny'),
       or the server refused the request for a missing scope
  4    timeout
  130  interrupted (Ctrl-C); what was said so far is kept in the session
"""

CHAT_HELP = f"""Send one message to an agent and print the reply.

With no MESSAGE in a terminal, opens the chat app. With MESSAGE "-" the whole
prompt is read from stdin; otherwise piped stdin is sent along as an attachment
(`git diff | muxi chat "review this"`; binary data such as `cat scan.pdf | muxi
chat "summarise"` is attached as a file). `--attach` sends files or URLs along
(images, PDF, Office documents, text, audio, video). Start a message with @agent
to pick the agent.
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
    attach: Annotated[
        list[str] | None,
        typer.Option(
            "--attach",
            "-A",
            metavar="FILE|URL",
            help="Attach a file or an http(s) URL (repeatable): images, PDF, docx, pptx, "
            "xlsx, text, audio, video.",
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
    speak: Annotated[
        str | None,
        typer.Option(
            "--speak",
            metavar="FILE",
            help="Also write the reply as speech to FILE (.mp3, .wav, .ogg or .opus): "
            "the formation's speech model, else espeak-ng.",
        ),
    ] = None,
) -> None:

    st = state(ctx)
    if message is None and sys.stdin.isatty() and sys.stdout.isatty():
        launch_tui(st, session_id=session, agent=agent, continue_last=continue_last)
        return

    from muxi_cli.protocol.records import Attachment, ChatRequest  # deferred: keeps start-up light

    if session and continue_last:
        raise fail(UsageError("--session and --continue cannot be used together", hint="pick one"))
    attachments: list[Attachment] = []
    piped = not sys.stdin.isatty()
    from muxi_cli.cli import attach as attaching  # deferred: ~3 ms that --help need not pay

    if message is None or message == "-":
        text = attaching.read_message(sys.stdin.buffer) if piped else ""
        if not text.strip():
            raise fail(
                UsageError(
                    "no message given",
                    hint='pass a message: muxi chat "hello", or pipe one: echo hello | muxi chat -',
                )
            )
        message = text
        piped = False  # stdin was the message
    try:
        files = attaching.check_sources(attach or [])
    except MuxiError as exc:
        raise fail(exc) from None

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
    import asyncio  # deferred: asyncio is slow to import

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
    renderer.speak_to = _speak_target(speak) if speak is not None else None
    inputs = attaching.Inputs(
        resources, files, attaching.Replayable(sys.stdin.buffer) if piped else None
    )
    try:
        code = asyncio.run(_run(ctx, request, renderer, continue_last, inputs))
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
    inputs: Inputs,
) -> int:

    first = dataclasses.replace(request, attachments=list(request.attachments))
    try:
        return await _attempt(ctx, first, renderer, continue_last, inputs)
    except _Retry:  # the warm host began draining or exited after this client found it
        notice(state(ctx), "the warm host stopped before the turn began: running in this process")
        if inputs.stdin is not None:
            inputs.stdin.seek(0)
        return await _attempt(ctx, request, renderer, continue_last, inputs, host=False)


class _Retry(Exception):
    """Run the turn again in this process (nothing was shown or started yet)."""


async def _attempt(
    ctx: typer.Context,
    request: ChatRequest,
    renderer: _Renderer,
    continue_last: bool,
    inputs: Inputs,
    *,
    host: bool = True,
) -> int:
    opened: list[Runtime] = []  # the runtime, for the error handler below
    try:
        async with runtime_for(ctx, host=host) as runtime:
            opened.append(runtime)
            if request.user_id is not None:  # a user key cannot chat as someone else
                request.user_id = await acting_user(runtime, request.user_id)
            if continue_last:
                request.session_id = await _last_session(runtime, request.user_id)
            for server_name, uri in inputs.resources:
                from muxi_cli.protocol.records import Attachment  # deferred: keeps start-up light

                text = await runtime.mcp_read_resource(server_name, uri)
                request.attachments.append(Attachment(name=f"{server_name}:{uri}", content=text))
            from muxi_cli.cli.attach import collect  # deferred: as in chat()

            request.attachments += await collect(runtime, inputs, request.user_id)
            turn_cm = await runtime.chat(request)
            opened.clear()  # the turn started: never run it twice
            async with turn_cm as turn:
                renderer.run_id, renderer.session_id = turn.run_id, turn.session_id
                async for event in turn.events():
                    renderer.event(event)
            await _speak_reply(runtime, renderer)
            if not renderer.quiet:
                await _report_server_failures(runtime)
    except MuxiError as exc:
        if host and opened and refused_by_draining_host(opened[0], exc):
            raise _Retry from exc
        renderer.failed(exc)
    return renderer.finish()


#: ``--speak`` file name extensions and the speech format each asks for.
_SPEECH_FORMATS = {"mp3": "mp3", "wav": "wav", "ogg": "opus", "oga": "opus", "opus": "opus"}


def _speak_target(path: str) -> tuple[Path, str]:
    """Where ``--speak`` writes and in which format; refused before the turn starts.

    ``-`` (stdout) is refused: stdout already carries the reply (or its JSON),
    and audio bytes mixed into it would spoil both.
    """
    if path == "-":
        raise fail(
            UsageError(
                "--speak cannot write to stdout: the reply is printed there",
                hint="give a file name, e.g. --speak reply.mp3",
            )
        )
    target = Path(path).expanduser()
    fmt = _SPEECH_FORMATS.get(target.suffix.lower().lstrip("."))
    if fmt is None:
        raise fail(
            UsageError(
                f"--speak {path!r}: cannot tell the audio format from the file name",
                hint="end it in .mp3, .wav, .ogg or .opus",
            )
        )
    if not target.parent.is_dir():
        raise fail(
            UsageError(f"--speak {path!r}: the folder {str(target.parent)!r} does not exist")
        )
    return target, fmt


async def _speak_reply(runtime: Runtime, renderer: _Renderer) -> None:
    """Write the finished reply's speech to the ``--speak`` file (all or nothing)."""
    if renderer.speak_to is None or renderer.error is not None:
        return
    target, fmt = renderer.speak_to
    if not renderer.reply.strip():
        if not renderer.quiet:
            warn(f"the reply is empty: nothing spoken, {str(target)!r} not written")
        return
    audio = await runtime.speak(renderer.reply, fmt=fmt)
    partial = target.with_name(f".{target.name}.part")
    try:
        partial.write_bytes(audio)
        partial.replace(target)  # a reader never sees half a file
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from exc


async def _report_server_failures(runtime: Runtime) -> None:
    """Tell the user (on stderr) about MCP servers that could not start."""

    try:
        servers = await runtime.mcp_servers()
    except Exception:
        return
    for server in servers:
        if server.state == "failed":
            warn(f"MCP server '{server.name}' is not available: {server.error or 'failed'}")


async def _last_session(runtime: Runtime, user_id: str | None) -> str:

    sessions = await runtime.sessions(user_id=user_id, limit=1)
    if not sessions:
        raise NotFoundError(
            "there is no earlier session to continue", hint='start one: muxi chat "hello"'
        )
    return sessions[0].id


class _Renderer:
    """Turns events into the chosen output format; decides the exit code."""

    def __init__(self, output: str, *, quiet: bool, stream: bool, raw: bool = False) -> None:

        self.output = output
        self.quiet = quiet
        self.stream = stream
        #: Model text may carry escape sequences (OSC 52 writes the clipboard,
        #: OSC 0 the title, CSI moves the cursor): removed unless --raw.
        self.raw = raw
        self._strip = ControlStripper()
        # deferred: the event classes cost ~10 ms that `muxi chat --help` need not pay
        from muxi_cli.protocol.reduce import Reducer

        #: The one fold of the turn (protocol/reduce.py): ``-o json`` prints it.
        self.turn: Reducer = Reducer()
        #: Known from the turn handle before the first event.
        self.run_id: str | None = None
        self.session_id: str | None = None
        self.error: dict[str, Any] | None = None
        self.printed_any = False
        self.ended_with_newline = True
        #: When each running call's progress was last printed (one line a second).
        self._progress_shown: dict[str, float] = {}
        #: ``--speak``: the file the reply's speech goes to, and its format.
        self.speak_to: tuple[Path, str] | None = None

    # ------------------------------------------------------------ diagnostics

    def _diag(self, text: str) -> None:
        if self.quiet or self.output != "text":
            return

        text = strip_controls(text)  # tool arguments and errors come from the model

        if not self.ended_with_newline and self.printed_any:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.ended_with_newline = True
        err_console().print(text, highlight=False, markup=True)

    # ----------------------------------------------------------------- events

    def event(self, event: Event) -> None:
        from muxi_cli.protocol import events as ev  # deferred: as Reducer above

        if self.output == "jsonl":
            sys.stdout.write(json_controls_escaped(ev.encode(event)) + "\n")
            sys.stdout.flush()
        self.turn.feed(event)
        nested = event.nested
        if isinstance(event, ev.RunFailed) and not nested:
            self.error = dict(event.error)
        if isinstance(event, ev.AgentRouted) and not nested:
            if event.failure:  # the router's answer was unusable: say why, visibly
                self._diag(f"[yellow]warning:[/yellow] {escape(event.reason)}")
            elif event.method in ("llm", "cached", "default"):
                why = escape(event.reason)
                if event.cached:
                    why += ", cached"
                self._diag(f"[dim]→ {escape(event.agent)} ({why})[/dim]")
        elif isinstance(event, ev.TextDelta) and not nested:
            if self.output == "text" and self.stream and event.text:
                self._write(event.text if self.raw else self._strip.feed(event.text))
        elif isinstance(event, ev.ToolRequested):
            args = _short_json(event.arguments)
            self._diag(f"[dim]⚙ {escape(event.server)}/{escape(event.tool)} {escape(args)}[/dim]")
        elif isinstance(event, ev.ToolApproval) and event.decision == "denied":
            call = self.turn.call(event.run_id, event.call_id)
            self._diag(
                f"[yellow]✗ denied {escape(call.tool if call else '')} by {escape(event.by)}"
                " (pass --yes to allow tools whose policy is 'ask')[/yellow]"
            )
        elif isinstance(event, ev.ToolProgress):
            self._progress(event)
        elif isinstance(event, ev.ToolResult) and not event.ok:
            call = self.turn.call(event.run_id, event.call_id)
            if call is None or call.decision != "denied":
                tool = call.tool if call is not None else ""
                self._diag(f"[red]✗ {escape(tool)}: {escape(event.content[:200])}[/red]")
        elif isinstance(event, ev.MediaProcessed) and not nested:
            from muxi_cli.cli.attach import media_line  # deferred: as in chat()

            self._diag(f"[dim]attached {escape(media_line(event))}[/dim]")
        elif isinstance(event, ev.MediaFailed) and not nested:
            self._diag(f"[red]✗ could not use {escape(event.name)}: {escape(event.message)}[/red]")
        elif isinstance(event, ev.Notice) and not self.quiet:
            # A warning goes to stderr in every output mode (stdout stays the reply/JSON).

            if self.output == "text" and not self.ended_with_newline and self.printed_any:
                sys.stdout.write("\n")
                sys.stdout.flush()
                self.ended_with_newline = True
            err_console().print(
                f"[yellow]warning:[/yellow] {escape(event.message)}", highlight=False
            )

    def _progress(self, event: Any) -> None:
        """A long call's progress on stderr, at most one line a second (the last always)."""
        from muxi_cli.termtext import progress_text  # deferred: only tool progress needs it

        now = time.monotonic()
        final = event.total is not None and event.progress >= event.total
        if not final and now - self._progress_shown.get(event.call_id, -1.0) < 1.0:
            return
        self._progress_shown[event.call_id] = now
        call = self.turn.call(event.run_id, event.call_id)
        shown = progress_text((event.progress, event.total, event.message or ""))
        self._diag(f"[dim]  {escape(call.tool if call else 'tool')}: {escape(shown)}[/dim]")

    def _write(self, text: str) -> None:
        if not text:
            return
        sys.stdout.write(text)
        sys.stdout.flush()
        self.printed_any = True
        self.ended_with_newline = text.endswith("\n")

    def failed(self, exc: Exception) -> None:

        if isinstance(exc, MuxiError):
            self.error = exc.to_dict()

    def interrupted(self) -> None:
        if self.output == "text" and self.printed_any and not self.ended_with_newline:
            sys.stdout.write("\n")
            sys.stdout.flush()

        err_console().print("[dim]interrupted; what was said so far is kept in the session[/dim]")

    # ----------------------------------------------------------------- finish

    @property
    def reply(self) -> str:
        return self.turn.summary.reply

    def summary(self) -> dict[str, Any]:
        """What ``-o json`` prints: the turn as protocol/reduce.py folds it."""
        from muxi_cli.cli.attach import media_summary  # deferred: as in chat()

        s = self.turn.summary
        return {
            "reply": s.reply,
            "agent": s.agent,
            "session_id": s.session_id or self.session_id or None,
            "run_id": s.run_id or self.run_id or None,
            "routing": _routing(s.routing),
            "usage": s.total_usage.to_dict(),
            "tool_calls": [c.to_dict(with_agent=True) for c in s.tool_calls_all],
            "memories": s.memories,
            "denied": s.denied,
            "notices": [{"code": n.code, "message": n.message} for n in s.notices],
            "media": [media_summary(m) for m in s.media],
            "error": self.error,
        }

    def finish(self) -> int:

        if self.output == "text":
            if not self.stream and self.reply:
                self._write(self.reply if self.raw else strip_controls(self.reply))
            elif not self.raw:
                self._write(self._strip.flush())  # a sequence cut off at the very end
            if self.printed_any and not self.ended_with_newline:
                sys.stdout.write("\n")
            sys.stdout.flush()
        elif self.output == "json":
            print_json(self.summary())
        if self.error is not None:
            err = MuxiError.from_dict(self.error)
            print_error(err)
            return exit_code_for(str(self.error.get("code")))
        if self.turn.summary.denied:
            return ExitCode.TOOL_DENIED
        return ExitCode.OK


def _routing(routed: AgentRouted | None) -> dict[str, Any] | None:
    if routed is None:
        return None
    out: dict[str, Any] = {
        "agent": routed.agent,
        "method": routed.method,
        "reason": routed.reason,
        "cached": routed.cached,
    }
    if routed.router_model is not None:  # present when the router was asked
        out["router_model"] = routed.router_model
    if routed.failure is not None:
        out["failure"] = routed.failure
    return out


def escape(text: str) -> str:
    """``rich.markup.escape``, importing rich (~20 ms) only when a diagnostic is printed."""
    from rich.markup import escape as rich_escape  # deferred: a plain reply never needs rich

    return rich_escape(text)


def _short_json(value: Any, limit: int = 120) -> str:

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
