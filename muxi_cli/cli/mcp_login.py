"""``muxi mcp login|logout``: OAuth sign-in to remote MCP servers (docs/tools.md).

The flow itself is in :mod:`muxi_cli.tools.mcp_oauth`, reached through
:mod:`muxi_cli.runtime.mcp_auth`. The login prints the authorization URL (on
stdout, whole, so it can be copied or read by a script), opens a browser when
this session has a display, waits for the loopback redirect and, when stdin is
a terminal, also takes the redirected address pasted back.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import typer

from muxi_cli.cli.context import state
from muxi_cli.cli.mcp import run_async
from muxi_cli.cli.output import err_console, fail, info
from muxi_cli.errors import MuxiError


def login_cmd(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="MCP server name (a remote server, `url:`).")],
    browser: Annotated[
        bool,
        typer.Option(
            "--browser/--no-browser", help="Open the authorization page in a browser when one can."
        ),
    ] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the authorization.")
    ] = 300.0,
    paste_back: Annotated[
        bool,
        typer.Option(
            "--paste",
            help="Read the address the browser ended on from stdin, even when stdin is not a "
            "terminal (a terminal is always read).",
        ),
    ] = False,
) -> None:
    """Sign in to a remote MCP server with OAuth; the tokens go to the keyring.

    Prints the authorization URL and opens a browser when one can open. The
    browser comes back to a loopback address on this machine; when it cannot
    (the browser runs elsewhere), paste the address it ended on here. With a
    remote profile, the muxi server runs the flow and keeps the tokens for
    this key's user only.
    """
    from muxi_cli.runtime import mcp_auth  # deferred: pulls in the MCP SDK

    st = state(ctx)
    interactive = sys.stdin.isatty() or paste_back

    def show_url(url: str) -> None:
        err_console().print("Open this address to authorize muxi:", highlight=False)
        # Plain print, never wrapped: the URL must stay copyable.
        print(url, flush=True)
        if interactive:
            err_console().print(
                "[dim]Waiting for the browser… (or paste the address it ended on, then Enter)[/dim]"
            )

    def open_browser(url: str) -> bool:
        import webbrowser  # deferred: only a login opens a browser

        return webbrowser.open(url)

    async def paste() -> str:
        return await _read_line()

    from muxi_cli.runtime.factory import LOCAL, selected_profile  # deferred: start-up

    chosen = selected_profile(st.profile)
    opener = open_browser if browser and _can_open_browser() else None
    if chosen != LOCAL:
        # A remote muxi: the server runs the flow for this key's user (per-user tokens).
        from muxi_cli.runtime import mcp_remote  # deferred: only remote profiles

        auth = run_async(
            mcp_remote.login(
                chosen,
                server,
                show_url=show_url,
                open_browser=opener,
                paste=paste if interactive else None,
                timeout=timeout,
            )
        )
        info(f"Signed in to {server} on the server ({auth}).")
        return
    result = run_async(
        mcp_auth.login(
            st.profile,
            st.config,
            server,
            show_url=show_url,
            open_browser=opener,
            paste=paste if interactive else None,
            timeout=timeout,
        )
    )
    info(f"Signed in to {server} ({result.tool_count} tool(s)); the tokens are in the keyring.")


def logout_cmd(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="MCP server name.")],
) -> None:
    """Forget a remote MCP server's OAuth tokens (and its client registration)."""
    from muxi_cli.runtime import mcp_auth  # deferred: pulls in the MCP SDK on demand
    from muxi_cli.runtime.factory import LOCAL, selected_profile  # deferred: start-up

    st = state(ctx)
    chosen = selected_profile(st.profile)
    if chosen != LOCAL:
        from muxi_cli.runtime import mcp_remote  # deferred: only remote profiles

        removed = run_async(mcp_remote.logout(chosen, server))
    else:
        try:
            removed = mcp_auth.logout(st.profile, st.config, server)
        except MuxiError as exc:
            raise fail(exc) from None
    info(f"Signed out of {server}." if removed else f"No stored login for {server}.")


def _can_open_browser() -> bool:
    """A display or a desktop session (a headless SSH session prints the URL only)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _settle(future: asyncio.Future[str], value: str) -> None:
    if not future.done():
        future.set_result(value)


async def _read_line() -> str:
    """One line from stdin without holding up the exit (a daemon thread)."""
    import threading  # deferred: only a login reads a pasted address

    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        line = sys.stdin.readline()
        if line.strip():
            loop.call_soon_threadsafe(_settle, done, line)

    threading.Thread(target=read, daemon=True, name="muxi-login-paste").start()
    return await done


def register(app: typer.Typer) -> None:
    """Add ``login`` and ``logout`` to the ``muxi mcp`` group."""
    app.command("login")(login_cmd)
    app.command("logout")(logout_cmd)
