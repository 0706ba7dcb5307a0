"""The project's own MCP test server.

    python tests/mcp_servers/demo_server.py                  # stdio
    python tests/mcp_servers/demo_server.py --http --port N  # streamable HTTP at 127.0.0.1:N/mcp
    python tests/mcp_servers/demo_server.py --sse --port N   # legacy SSE at 127.0.0.1:N/sse

Options: ``--name NAME`` (server name), ``--delay-start S`` (sleep before
serving, to play a slow server), ``--tool-prefix P`` (prefix every tool name).
"""

import argparse
import asyncio
import base64
import logging
import os
import sys
import time

# A 1x1 transparent PNG.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF with a text layer."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def tone_wav() -> bytes:
    """A tenth of a second of silence as a WAV file."""
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    return buf.getvalue()


def big_photo() -> bytes:
    """A 3000x2000 PNG with a GPS position in its EXIF (the model must get neither)."""
    import io

    from PIL import Image

    image = Image.new("RGB", (3000, 2000), (40, 120, 200))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0)}
    buf = io.BytesIO()
    image.save(buf, "PNG", exif=exif)
    return buf.getvalue()


def build(name: str = "demo"):  # type: ignore[no-untyped-def]
    from mcp.server import MCPServer
    from mcp.server.mcpserver import Audio, Context, Image
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import BlobResourceContents, EmbeddedResource, TextResourceContents
    from pydantic import BaseModel

    server = MCPServer(name, log_level="WARNING")

    class Sum(BaseModel):
        sum: float
        terms: int

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    def add(a: float, b: float) -> Sum:
        """Add two numbers (structured result)."""
        return Sum(sum=a + b, terms=2)

    @server.tool()
    def fail(message: str = "it broke") -> str:
        """Always fails with a tool error."""
        raise ToolError(message)

    @server.tool()
    async def sleep(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool(structured_output=False)
    def pixel():  # type: ignore[no-untyped-def]
        """Return an image and a caption."""
        return ["a pixel", Image(data=PIXEL_PNG, format="png")]

    @server.tool(structured_output=False)
    def bundle():  # type: ignore[no-untyped-def]
        """Return a large photo, an embedded text and PDF resource, and audio."""
        notes = TextResourceContents(
            uri="demo://notes.txt", mime_type="text/plain", text="notes from the resource"
        )
        report = BlobResourceContents(
            uri="demo://files/report.pdf",
            mime_type="application/pdf",
            blob=base64.b64encode(tiny_pdf("Quarterly report 2026")).decode(),
        )
        return [
            "a bundle",
            Image(data=big_photo(), format="png"),
            EmbeddedResource(type="resource", resource=notes),
            EmbeddedResource(type="resource", resource=report),
            Audio(data=tone_wav(), format="wav"),
        ]

    @server.tool(structured_output=True)
    def stats(values: list[float]) -> dict[str, float]:
        """Structured-only statistics of a list."""
        return {"count": float(len(values)), "total": float(sum(values))}

    @server.tool()
    def crash() -> str:
        """Kill the server process in the middle of the call."""
        sys.stderr.write("demo: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)

    @server.tool()
    def env(name: str) -> str:
        """The value of an environment variable of the server process."""
        return os.environ.get(name, "")

    @server.tool()
    def header(name: str, ctx: Context) -> str:
        """The value of an HTTP request header (empty over stdio)."""
        headers = ctx.headers or {}
        return str(headers.get(name.lower(), ""))

    @server.tool()
    def cwd() -> str:
        """The server's working directory."""
        return os.getcwd()

    @server.prompt()
    def greet(who: str) -> str:
        """Greet someone."""
        return f"Please greet {who} warmly."

    @server.resource("demo://readme", mime_type="text/plain")
    def readme() -> str:
        """A small text resource."""
        return "demo readme: hello from the demo server"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--sse", action="store_true", help="legacy SSE transport at /sse")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--name", default="demo")
    parser.add_argument("--delay-start", type=float, default=0.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.delay_start:
        time.sleep(args.delay_start)
    server = build(args.name)
    if args.sse:
        server.run("sse", host="127.0.0.1", port=args.port)
    elif args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.port)
    else:
        server.run()


if __name__ == "__main__":
    main()
