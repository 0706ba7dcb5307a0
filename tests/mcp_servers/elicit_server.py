"""An MCP test server that asks its client for input mid-call.

    python tests/mcp_servers/elicit_server.py                  # stdio
    python tests/mcp_servers/elicit_server.py --http --port N  # streamable HTTP

Tools: ``book_table`` elicits a form (name, party size) and answers with what
it got; ``summarize`` asks the client's model for a sampling completion;
``look`` samples with an image or audio clip (base64 in its arguments) next to
a question, in one user message.
"""

import argparse
import logging

from pydantic import BaseModel, Field

logging.basicConfig(level=logging.WARNING)  # before MCPServer: it configures root logging

from typing import Annotated  # noqa: E402

from mcp.server import MCPServer  # noqa: E402
from mcp.server.mcpserver import (  # noqa: E402
    AcceptedElicitation,
    Elicit,
    ElicitationResult,
    Resolve,
    Sample,
)
from mcp_types import (  # noqa: E402
    AudioContent,
    CreateMessageResult,
    ImageContent,
    SamplingMessage,
    TextContent,
)


class Booking(BaseModel):
    name: str = Field(description="Name for the booking")
    party: int = Field(description="How many people", ge=1, le=20)


server = MCPServer("elicit-test")


# The SDK's resolvers ask through the protocol the client negotiated: an
# input_required result on 2026-07-28, a server-to-client request before it.
def ask_booking(day: str) -> Elicit[Booking]:
    return Elicit(f"Who is the table on {day} for?", Booking)


def ask_model(text: str, length: int = 50) -> Sample:
    prompt = SamplingMessage(
        role="user", content=TextContent(type="text", text=f"Summarize: {text}")
    )
    return Sample([prompt], max_tokens=length)


def ask_about(data: str, mime_type: str, question: str = "What is this?") -> Sample:
    media: AudioContent | ImageContent
    if mime_type.startswith("audio/"):
        media = AudioContent(type="audio", data=data, mime_type=mime_type)
    else:
        media = ImageContent(type="image", data=data, mime_type=mime_type)
    blocks = [TextContent(type="text", text=question), media]
    return Sample([SamplingMessage(role="user", content=blocks)], max_tokens=100)


@server.tool()
def book_table(
    day: str, booking: Annotated[ElicitationResult[Booking], Resolve(ask_booking)]
) -> str:
    """Book a table on a day; asks the user for a name and party size."""
    if isinstance(booking, AcceptedElicitation):
        return f"booked {day} for {booking.data.name}, {booking.data.party} people"
    return f"booking {'declined' if booking.action == 'decline' else 'cancelled'}"


@server.tool()
def summarize(
    text: str, answer: Annotated[CreateMessageResult, Resolve(ask_model)], length: int = 50
) -> str:
    """Summarize text with the client's model (sampling), in at most ``length`` tokens."""
    content = answer.content
    said = content.text if isinstance(content, TextContent) else str(content)
    return f"summary ({answer.model}): {said}"


@server.tool()
def look(
    data: str,
    mime_type: str,
    answer: Annotated[CreateMessageResult, Resolve(ask_about)],
    question: str = "What is this?",
) -> str:
    """Ask the client's model about an image or audio clip (base64 ``data``)."""
    content = answer.content
    said = content.text if isinstance(content, TextContent) else str(content)
    return f"seen ({answer.model}): {said}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.port)
    else:
        server.run()
