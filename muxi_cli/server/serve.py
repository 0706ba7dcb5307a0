"""Run the server: keys on first start, a LocalRuntime, uvicorn, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.runtime.users import local_user_id
from muxi_cli.server import logfilter
from muxi_cli.server.connections import connection_cap, guarded_protocol
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores.server_keys import KeyRecord, KeyStore

if TYPE_CHECKING:
    from muxi_cli.runtime.base import Runtime


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def print_new_keys(created: list[tuple[KeyRecord, str]], url: str, file: Any = None) -> None:
    """Show freshly generated keys once, with how to store them."""
    from rich.console import Console  # deferred: rich is slow to import
    from rich.markup import escape  # deferred: rich is slow to import
    from rich.panel import Panel  # deferred: rich is slow to import

    console = Console(file=file or sys.stderr, highlight=False, soft_wrap=True)
    lines = [
        "[bold]These keys are shown only once.[/bold] The server keeps only their hashes.",
        "",
    ]
    for rec, secret in created:
        lines.append(f"[bold]{rec.role}[/bold] key (id {rec.id}, user {escape(rec.user_id)}):")
        lines.append(f"  [green]{escape(secret)}[/green]")
        lines.append("")
    lines.append("Store one on a client (the key is read from a hidden prompt or stdin):")
    lines.append(f"  muxi profile add NAME --url {escape(url)}")
    lines.append("Manage keys later with `muxi keys list|create|revoke`.")
    console.print(
        Panel(
            "\n".join(lines), title="muxi serve: new API keys", border_style="yellow", expand=False
        )
    )


def _make_server(
    config: Any, app: Any, grace: float, signals: bool = True, on_shutdown: Any = None
) -> Any:
    import uvicorn  # deferred: uvicorn is slow to import

    class GracefulServer(uvicorn.Server):
        """Finishes (or cancels, after ``grace`` s) running turns before closing."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # SIGINT/SIGTERM start a graceful shutdown, a second SIGINT forces it;
            # unlike uvicorn's default, the signal is not re-raised afterwards.

            loop = asyncio.get_running_loop()
            installed = []
            for sig in (signal.SIGINT, signal.SIGTERM) if signals else ():
                try:
                    loop.add_signal_handler(sig, self.handle_exit, sig, None)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                    pass
            try:
                yield
            finally:
                for sig in installed:
                    loop.remove_signal_handler(sig)
                self._captured_signals.clear()

        async def shutdown(self, sockets: Any = None) -> None:
            if on_shutdown is not None:
                on_shutdown()
            ctx = app.state.ctx
            await ctx.registry.drain(ctx.settings.shutdown_grace)
            await super().shutdown(sockets)

    return GracefulServer(config)


async def serve_runtime(
    runtime: Runtime,
    keys: KeyStore,
    host: str = "127.0.0.1",
    port: int = 8765,
    settings: ServerSettings | None = None,
    *,
    on_listening: Any = None,
    signals: bool = True,
    server_ref: list[Any] | None = None,
    media_store: Any = None,
    uds: Path | None = None,
) -> None:
    """Serve ``runtime`` until SIGINT/SIGTERM (or ``server.should_exit``).

    ``server_ref``, when given, receives the uvicorn server (tests stop it with
    ``should_exit = True``). With ``uds``, the server listens on a Unix socket
    at that path (0600, same-user peers only) and nothing on TCP; ``host`` and
    ``port`` are ignored and ``on_listening`` gets 0. The socket file is removed
    when shutdown starts (no new client finds a draining server), unless
    another process has replaced it meanwhile; the server in ``server_ref`` has
    it as ``socket_file`` (a :class:`~muxi_cli.server.unixsock.SocketFile`).
    On a socket a client that goes away cancels its turn at once (no resume grace).
    """

    import uvicorn  # deferred: uvicorn is slow to import

    from muxi_cli.server.app import create_app  # deferred: loads muxi's server

    settings = settings or ServerSettings()
    logfilter.install()  # the server's one log handler, before anything logs
    app = create_app(runtime, keys, settings, media_store=media_store)
    if uds is not None:
        # The local host's clients are this machine's own processes: no network
        # to blip, and a killed `muxi chat` must not leave its turn running.
        app.state.ctx.registry.resume_grace = 0.0
    # Now, not on first use: the store's own quota check (set from the options
    # there) holds every turn, including one whose tool returns media.
    app.state.ctx.media  # noqa: B018
    cap = connection_cap(settings.max_connections)
    if cap < settings.max_connections:
        logging.getLogger("muxi.server").warning(
            "serving at most %d connections (the open-file limit is too low for %d)",
            cap,
            settings.max_connections,
        )

    sockets = None
    if uds is not None:
        from muxi_cli.server.unixsock import (  # deferred: only local hosts serve on a socket
            bind_unix_socket,
        )

        sock, sock_file = bind_unix_socket(uds)
        sockets = [sock]
        on_shutdown: Any = sock_file.remove
    else:
        on_shutdown = None
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(settings.header_timeout, cap),
        timeout_keep_alive=settings.idle_timeout,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws_max_size=max(settings.max_body, 65536),
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    logfilter.install()  # after uvicorn.Config, which sets up uvicorn's log handlers
    server = _make_server(config, app, settings.shutdown_grace, signals, on_shutdown)
    #: The socket file (``SocketFile``) with ``uds``: ``is_ours()`` tells a deleted or replaced one.
    server.socket_file = sock_file if uds is not None else None
    if server_ref is not None:
        server_ref.append(server)

    metrics_server: Any = None
    metrics_task: Any = None
    from muxi_cli.server.cluster_join import join_cluster  # deferred: only replicas need it

    # With MUXI_DATABASE_URL, this server is one of the replicas sharing it (not a
    # machine's own warm host, which serves on a Unix socket).
    cluster = await join_cluster(app.state.ctx) if uds is None else None
    task = asyncio.create_task(server.serve(sockets=sockets))
    try:
        if settings.metrics_port is not None and app.state.ctx.metrics is not None:
            from muxi_cli.server.metrics import start_loopback  # deferred: loads uvicorn glue

            try:
                metrics_server, metrics_task, metrics_port = await start_loopback(
                    app.state.ctx.metrics, settings.metrics_port
                )
            except BaseException:
                server.should_exit = True  # no half-started server without its metrics
                raise
            print(
                f"muxi serve: metrics at http://127.0.0.1:{metrics_port}/metrics (no key; "
                "this machine only)",
                file=sys.stderr,
                flush=True,
            )
        # uvicorn has no "started" event to wait on; startup ends one way or the other.
        while not server.started and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if server.started and on_listening is not None:
            on_listening(0 if sockets else server.servers[0].sockets[0].getsockname()[1])
        await task
    finally:
        if metrics_server is not None:
            metrics_server.should_exit = True
            with contextlib.suppress(BaseException):
                await metrics_task
        if app.state.ctx.registry.log is not None:  # after the drain: every event is in
            await app.state.ctx.registry.log.aclose()
        if app.state.ctx.registry.turn_keys is not None:
            app.state.ctx.registry.turn_keys.close()
        if app.state.ctx.metrics is not None:
            app.state.ctx.metrics.stop_observing()  # the runtime may outlive this server
        if cluster is not None:
            await cluster.leave()
        if on_shutdown is not None:  # also when startup failed or the task was cancelled
            on_shutdown()
            for s in sockets or ():
                s.close()
        keys.flush()


async def serve(
    host: str,
    port: int,
    config_path: str | None,
    settings: ServerSettings,
    *,
    quiet: bool = False,
) -> None:
    """What ``muxi serve`` runs."""
    from muxi_cli.runtime.local import (
        LocalRuntime,  # deferred: loads muxi's config, core, runtime and more
    )

    logfilter.install(process_wide=True)
    from muxi_cli.stores.pg_keys import key_store  # deferred: only serve needs it

    keys = key_store()  # in the shared database when MUXI_DATABASE_URL names one
    display_host = host if ":" not in host else f"[{host}]"
    created = keys.bootstrap(local_user_id())
    err = sys.stderr
    if not is_loopback(host):
        print(
            f"warning: listening on {host}, reachable from other machines; put TLS in front "
            "(a reverse proxy) before exposing it",
            file=err,
        )
    runtime = await LocalRuntime.open(config_path=config_path, start_tools=True)

    shown: list[bool] = []

    def listening(actual_port: int) -> None:
        # Shown once the real port is known (`--port 0` picks a free one).
        if created:
            print_new_keys(created, f"http://{display_host}:{actual_port}")
            shown.append(True)
        print(
            f"muxi serve: listening on http://{display_host}:{actual_port} "
            f"(API docs at /docs; Ctrl-C stops)",
            file=err,
            flush=True,
        )
        if settings.web:
            print(
                f"muxi serve: the chat app in a browser at http://{display_host}:{actual_port}"
                "/web/ (sign in with an admin key)",
                file=err,
                flush=True,
            )

    try:
        await serve_runtime(runtime, keys, host, port, settings, on_listening=listening)
    finally:
        if created and not shown:  # never lose the only copy of a new key
            print_new_keys(created, f"http://{display_host}:{port}")
        await runtime.aclose()
        if not quiet:
            print("muxi serve: stopped", file=err, flush=True)
