"""Rich MCP tool results (issue 23): images, audio, embedded resources and
resource links as a real server sends them, turned into what the model and the
screen get (``call_result_to_outcome``)."""

from __future__ import annotations

import base64
from typing import Any

from muxi_cli.tools.results import call_result_to_outcome
from tests.mcp_servers.demo_server import PIXEL_PNG, build


def _link_server() -> Any:
    from mcp.types import ResourceLink

    server = build("links")

    @server.tool(structured_output=False)
    def link():  # type: ignore[no-untyped-def]
        """Point at a resource instead of sending it."""
        return [
            ResourceLink(
                type="resource_link",
                uri="demo://files/big.csv",
                name="big.csv",
                mime_type="text/csv",
                description="A large table, read it if needed.",
            )
        ]

    return server


async def _call(tool: str) -> Any:
    import mcp  # deferred: the SDK is slow to import

    async with mcp.Client(_link_server()) as client:
        return await client.call_tool(tool, {})


async def test_an_image_reaches_the_model_and_the_screen() -> None:
    outcome = call_result_to_outcome(await _call("pixel"))
    assert outcome.ok
    assert outcome.content == "a pixel\n[image: image/png, 70 bytes]"
    (image,) = outcome.images
    assert image["mime"] == "image/png" and base64.b64decode(image["data"]) == PIXEL_PNG


async def test_audio_and_embedded_resources_are_named_and_collected() -> None:
    outcome = call_result_to_outcome(await _call("bundle"))
    lines = outcome.content.splitlines()
    assert lines[0] == "a bundle" and lines[1].startswith("[image: image/png, ")
    # An embedded text resource says where it came from, then its text.
    assert lines[2:4] == ["[resource demo://notes.txt (text/plain)]", "notes from the resource"]
    assert lines[4].startswith("[binary resource demo://files/report.pdf (application/pdf, ")
    assert lines[5].startswith("[audio: audio/wav, ")
    assert [m["mime"] for m in outcome.media] == ["application/pdf", "audio/wav"]
    assert outcome.media[0]["name"] == "report.pdf"
    assert base64.b64decode(outcome.media[1]["data"])[:4] == b"RIFF"


async def test_a_resource_link_names_its_uri_type_and_description() -> None:
    outcome = call_result_to_outcome(await _call("link"))
    assert outcome.content == (
        "[resource link: demo://files/big.csv (big.csv, text/csv)] A large table, read it if needed."
    )
    assert outcome.images == [] and outcome.media == []
