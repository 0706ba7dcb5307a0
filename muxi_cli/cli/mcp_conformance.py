"""``muxi mcp conformance-client URL``: the client the MCP conformance suite drives.

Hidden: it exists for ``scripts/mcp-conformance`` (docs/mcp-conformance.md),
which runs the suite's client mode with this command. The suite appends the
scenario server's URL and names the scenario in ``MCP_CONFORMANCE_SCENARIO``.
Prints one line per step and, last, the run as JSON (the suite keeps stdout
per scenario). Exit codes: 0 connected and every call answered without an
error, 1 otherwise (the suite judges by its own checks, not by this code).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated

import typer

from muxi_cli.cli.output import info


def conformance_client_cmd(
    url: Annotated[str, typer.Argument(help="The scenario server's URL.", show_default=False)],
    timeout: Annotated[
        float, typer.Option("--timeout", "-t", min=0.1, help="Seconds to wait for each request.")
    ] = 25.0,
) -> None:
    """Connect to URL as a formation's MCP client would, list tools, call each once."""
    from muxi_cli.mcpdev.conformance import (  # deferred: loads the MCP SDK
        SCENARIO_ENV,
        run_client,
        scenario_context,
    )

    scenario = os.environ.get(SCENARIO_ENV, "")
    run = asyncio.run(
        run_client(url, scenario=scenario, context=scenario_context(), timeout=timeout, emit=info)
    )
    typer.echo(json.dumps(run.to_dict()))
    raise typer.Exit(0 if run.ok else 1)


def register(app: typer.Typer) -> None:
    """Add the hidden ``conformance-client`` command to the ``muxi mcp`` group."""
    app.command("conformance-client", hidden=True)(conformance_client_cmd)
