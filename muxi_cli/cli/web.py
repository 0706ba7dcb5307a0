"""``muxi web``: the chat app in a browser (see :mod:`muxi_cli.web`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from muxi_cli.cli.context import state
from muxi_cli.cli.output import fail
from muxi_cli.web import APP_PROCESS_FLAG


def web(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (127.0.0.1 keeps it on this machine).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = 8766,
    app_process: Annotated[
        bool,
        typer.Option(
            APP_PROCESS_FLAG, hidden=True, help="Run the chat app on stdio (the server's child)."
        ),
    ] = False,
) -> None:
    """Serve the chat app in a browser, locally or against a profile (-P NAME).

    Prints a link with a one-time token: the first browser to open it gets the
    session (a cookie), and the link stops working. Each browser tab runs its
    own chat app on this machine.
    """
    st = state(ctx)
    if app_process:
        from muxi_cli.cli.tui_launch import launch_tui  # deferred: loads Textual

        launch_tui(st)
        return
    from muxi_cli import parts  # deferred: only the server side needs the web part

    parts.require("web", "muxi web")
    from muxi_cli.runtime.factory import LOCAL, selected_profile  # deferred: keeps --help light

    if selected_profile(st.profile) == LOCAL:
        # Each tab would run agents here: say so now, not in every tab.
        parts.require("local", "muxi web on the local profile")
    from muxi_cli.cli.serve import _cannot_bind  # deferred: only when serving

    problem = _cannot_bind(host, port)
    if problem is not None:
        raise fail(problem)
    from muxi_cli.web.gate import loopback_host  # deferred: only when serving

    if not loopback_host(host):
        print(
            f"warning: listening on {host}, reachable from other machines over plain HTTP: "
            "anyone who sees the link can take the session; prefer 127.0.0.1 and an SSH "
            "tunnel, or TLS in front",
            file=sys.stderr,
        )
    import asyncio  # deferred: asyncio is slow to import

    from muxi_cli.web.aioserver import WebServer, run  # deferred: loads aiohttp
    from muxi_cli.web.child import ChildSpec, chat_app_argv  # deferred: loads textual-serve

    server = WebServer(ChildSpec(chat_app_argv(st.profile, st.config)))

    def listening(bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        print(
            f"muxi web: open http://{shown}:{bound_port}/?token={server.token.value}\n"
            "  (the link works once; Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )

    try:
        asyncio.run(run(server, host, port, listening))
    except KeyboardInterrupt:
        pass
    print("muxi web: stopped", file=sys.stderr, flush=True)
