"""The Python client of a ``muxi serve`` (docs/clients.md).

::

    from muxi_cli.client import AsyncClient, Client, errors

    async with AsyncClient("http://127.0.0.1:8765", "muxi_...") as c:
        turn = await c.chat("hi")
        async for event in turn:
            ...
        print((await turn).reply)

    with Client("http://127.0.0.1:8765", "muxi_...") as c:   # scripts, notebooks
        print(c.chat("hi").result().reply)

It is light: importing it loads no Textual, Typer, Rich, LanceDB, MCP,
provider SDK or server framework (an import-linter contract and
tests/client/test_light_import.py hold that); httpx is loaded on the first
request, websockets on the first WebSocket turn.
"""

from muxi_cli.client import errors
from muxi_cli.client.aclient import AsyncClient
from muxi_cli.client.errors import ApiError
from muxi_cli.client.sync import Client, SyncTurn
from muxi_cli.client.turn import ChatTurn, TurnResult
from muxi_cli.protocol.apiversion import API_VERSION

__all__ = [
    "API_VERSION",
    "ApiError",
    "AsyncClient",
    "ChatTurn",
    "Client",
    "SyncTurn",
    "TurnResult",
    "errors",
]
