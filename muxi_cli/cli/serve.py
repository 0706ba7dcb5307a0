"""``muxi serve``: serve this machine's agents over HTTP, SSE and WebSocket."""

from __future__ import annotations

from typing import Annotated

import typer


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
) -> None:
    """Serve the formation's agents to `muxi --profile ...` clients and other programs.

    On first start it creates one admin key and one user key and prints them
    once. Keys travel as `Authorization: Bearer <key>` or `X-Muxi-Key`.
    `MUXI_ADMIN_KEY` pins an extra admin key from the environment.
    """
    import asyncio

    from muxi_cli.cli.context import state
    from muxi_cli.cli.output import fail
    from muxi_cli.errors import UsageError
    from muxi_cli.server.context import ServerSettings

    st = state(ctx)
    if st.profile and st.profile != "local":
        raise fail(
            UsageError(
                f"`muxi serve` serves this machine's agents; it cannot use profile {st.profile!r}",
                hint="drop --profile (and unset MUXI_PROFILE) to serve locally",
            )
        )
    settings = ServerSettings(max_body=max_body, rate=rate, burst=burst, shutdown_grace=grace)
    from muxi_cli.server.serve import serve as run_server

    asyncio.run(run_server(host, port, config or st.config, settings))
