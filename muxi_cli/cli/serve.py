"""``muxi serve``: serve this machine's agents over HTTP, SSE and WebSocket."""

from __future__ import annotations

import errno
import os
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from muxi_cli.cli.context import state
from muxi_cli.cli.output import fail
from muxi_cli.errors import MuxiError, UsageError

if TYPE_CHECKING:
    from muxi_cli.errors import UsageError

#: A megabyte of --max-upload-mb and --media-quota-mb.
MB = 1024 * 1024


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (127.0.0.1 keeps it on this machine).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = 8765,
    config: Annotated[
        str | None, typer.Option("--config", help="Formation file (muxi.yaml) to serve.")
    ] = None,
    rate: Annotated[
        float,
        typer.Option(
            "--rate", min=0, help="Requests per second per key (token bucket; 0: no limit)."
        ),
    ] = 10.0,
    burst: Annotated[
        int, typer.Option("--burst", min=1, help="Burst size of the rate limit.")
    ] = 60,
    max_body: Annotated[
        int, typer.Option("--max-body", min=1024, help="Largest request body in bytes (413 above).")
    ] = 1_000_000,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0, help="Seconds running turns get to finish on shutdown."),
    ] = 10.0,
    resume_grace: Annotated[
        float,
        typer.Option(
            "--resume-grace",
            min=0,
            help="Seconds a turn whose client went away keeps running for it to resume the stream.",
        ),
    ] = 30.0,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            min=0.1,
            help="Seconds a client has to send a request's headers (then it is disconnected).",
        ),
    ] = 10.0,
    idle_timeout: Annotated[
        int,
        typer.Option(
            "--idle-timeout", min=1, help="Seconds an idle keep-alive connection stays open."
        ),
    ] = 10,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            min=1,
            help="Concurrent connections; at the cap the longest-idle one is closed.",
        ),
    ] = 1000,
    max_upload_mb: Annotated[
        float | None,
        typer.Option(
            "--max-upload-mb",
            min=0.001,
            help="Largest uploaded file in MB (413 above; default: media.max_file_size, 20).",
        ),
    ] = None,
    media_quota_mb: Annotated[
        float | None,
        typer.Option(
            "--media-quota-mb",
            min=0.001,
            help="Media each user may store, in MB (413 above; default: media.quota, else 1024).",
        ),
    ] = None,
    upload_rate: Annotated[
        float,
        typer.Option(
            "--upload-rate", min=0, help="Uploads per minute per user (token bucket; 0: no limit)."
        ),
    ] = 30.0,
    web: Annotated[
        bool,
        typer.Option(
            "--web", help="Also serve the chat app in a browser at /web/ (admin keys sign in)."
        ),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Also serve /metrics without a key on this port of 127.0.0.1 (this machine only).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="PostgreSQL database the replicas of this server share "
            "(postgresql://USER:PASSWORD@HOST:PORT/DB; default: MUXI_DATABASE_URL, else the "
            "local SQLite files).",
        ),
    ] = None,
) -> None:
    """Serve the formation's agents to `muxi --profile ...` clients and other programs.

    On first start it creates one admin key and one user key and prints them
    once. Keys travel as `Authorization: Bearer <key>` or `X-Muxi-Key`.
    `MUXI_ADMIN_KEY` pins an extra admin key from the environment.
    """
    import asyncio  # deferred: asyncio is slow to import

    from muxi_cli import parts  # deferred: keeps --help light

    parts.require("server", "muxi serve")
    from muxi_cli.server.context import ServerSettings  # deferred: loads asyncio, pydantic

    st = state(ctx)
    # --profile or MUXI_PROFILE (not `muxi profile use`: a client default here need
    # not stop this machine from serving).
    profile = st.profile or os.environ.get("MUXI_PROFILE")
    if profile and profile != "local":
        raise fail(
            UsageError(
                f"`muxi serve` serves this machine's agents; it cannot use profile {profile!r}",
                hint="drop --profile (and unset MUXI_PROFILE) to serve locally",
            )
        )
    if web:
        parts.require("web", "muxi serve --web")
    if database_url:
        # Every part of the server (sessions, run records, keys, ...) reads it from there.
        os.environ["MUXI_DATABASE_URL"] = database_url
    problem = _cannot_bind(host, port) or _weak_pinned_key() or _bad_database_url()
    if problem is None and metrics_port is not None:
        problem = _metrics_port_problem(port, metrics_port)
    if problem is not None:
        raise fail(problem)
    if os.environ.get("MUXI_DATABASE_URL"):
        parts.require("postgres", "muxi serve with a PostgreSQL database")
    settings = ServerSettings(
        max_body=max_body,
        rate=rate,
        burst=burst,
        shutdown_grace=grace,
        resume_grace=resume_grace,
        header_timeout=header_timeout,
        idle_timeout=idle_timeout,
        max_connections=max_connections,
        max_upload=None if max_upload_mb is None else int(max_upload_mb * MB),
        media_quota=None if media_quota_mb is None else int(media_quota_mb * MB),
        upload_rate=upload_rate,
        web=web,
        metrics_port=metrics_port,
    )
    from muxi_cli.server.serve import serve as run_server  # deferred: loads asyncio, pydantic

    asyncio.run(run_server(host, port, config or st.config, settings))


def _metrics_port_problem(port: int, metrics_port: int) -> UsageError | None:
    """Why ``--metrics-port`` cannot be used (it is always on 127.0.0.1)."""
    if metrics_port and metrics_port == port:
        return UsageError(
            f"--metrics-port {metrics_port} is the API's port",
            hint="pick another port for the metrics (or 0 for any free one)",
        )
    problem = _cannot_bind("127.0.0.1", metrics_port)
    if problem is None:
        return None
    return UsageError(
        f"--metrics-port: {problem.message}",
        hint="pick another --metrics-port (0: any free one); it is always on 127.0.0.1",
    )


def _cannot_bind(host: str, port: int) -> UsageError | None:
    """Why ``host:port`` cannot be listened on (None when it can, or for port 0).

    Checked before anything starts, so a busy port gives one clear error instead
    of the web server's traceback.
    """

    if port == 0:
        return None
    where = f"cannot listen on {host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return UsageError(
            f"{where}: unknown host ({exc.strerror})",
            hint="use an address of this machine, e.g. --host 127.0.0.1 or --host 0.0.0.0",
        )
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return UsageError(
                    f"{where}: the address is already in use",
                    hint="another program (perhaps another `muxi serve`) has it: pick another "
                    "--port, or --port 0 for any free one",
                )
            return UsageError(
                f"{where}: {exc.strerror or exc}",
                hint="pick another --host or --port (ports below 1024 need privileges)",
            )
    return None


def _bad_database_url() -> MuxiError | None:
    """A database URL that cannot name PostgreSQL is refused before anything starts."""
    from muxi_cli.runtime.admin import database_url_problem  # deferred: loads asyncio

    return database_url_problem(None)


def _weak_pinned_key() -> UsageError | None:
    """A ``MUXI_ADMIN_KEY`` weaker than a generated key is refused before anything starts."""

    from muxi_cli.runtime.admin import weak_pinned_key  # deferred: loads asyncio

    return weak_pinned_key(dict(os.environ))
