"""A client newer than its server: what it says when the server lacks a route."""

from __future__ import annotations

import pytest

from muxi_cli.errors import NotFoundError
from tests.server.conftest import Served


async def test_a_route_the_server_lacks_says_the_server_is_older(served: Served) -> None:
    """A client newer than its server asks for something added since: the error names
    the path and says why, instead of a bare "Not Found"; a record that is not found
    keeps its own message."""
    alice = served.remote(served.alice)
    try:
        with pytest.raises(NotFoundError, match="has no /v1/added-later: it runs an older muxi"):
            await alice._server.request("GET", "/v1/added-later?x=1")
        with pytest.raises(NotFoundError) as found:
            await alice.session("s_doesnotexist")
        assert "older muxi" not in str(found.value)
    finally:
        await alice.aclose()
