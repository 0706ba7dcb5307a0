"""``fetch_url``: GET a web page over http(s) and return its readable text.

Limits come from the formation's ``fetch:`` block: a total time limit and a
byte limit enforced while streaming. HTML is turned into text with
BeautifulSoup (scripts, styles and navigation dropped); JSON is pretty-printed;
other text is returned as is; binary content is described, not returned.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from muxi_cli.tools.base import ToolOutcome
from muxi_cli.tools.builtins import BuiltinContext
from muxi_cli.tools.threads import run_abandonable

DESCRIPTION = (
    "Fetch a web page (http or https) and return its text. HTML is converted to readable "
    "text; JSON and plain text are returned as they are."
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"url": {"type": "string", "description": "An http:// or https:// URL"}},
    "required": ["url"],
}
USER_AGENT = "muxi-fetch/1.0"
MAX_REDIRECTS = 5
_TEXT_TYPES = (
    "application/json",
    "application/xml",
    "application/javascript",
    "application/xhtml+xml",
)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, readable text) of an HTML document."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(
        ["script", "style", "noscript", "template", "svg", "nav", "footer", "head", "title"]
    ):
        tag.decompose()
    lines = []
    for line in soup.get_text("\n").splitlines():
        stripped = " ".join(line.split())
        if stripped:
            lines.append(stripped)
    return title, "\n".join(lines)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def _readable(body: bytes, content_type: str, mime: str) -> tuple[str, str]:
    """``(title, text)`` of a text body: HTML made readable, JSON pretty-printed."""
    try:
        text = body.decode(_charset(content_type), errors="replace")
    except LookupError:  # a charset Python does not know: UTF-8 is the best guess
        text = body.decode("utf-8", errors="replace")
    if mime in ("text/html", "application/xhtml+xml") or (
        not mime and "<html" in text[:1000].lower()
    ):
        return html_to_text(text)
    if mime == "application/json" or mime.endswith("+json"):
        try:
            return "", json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return "", text


class PrivateAddressError(Exception):
    """The URL (or a redirect) leads to a loopback, private or link-local address."""


async def _check_public(request: Any) -> None:
    """httpx request hook: refuse hosts that resolve to non-public addresses
    (checked for the first request and for every redirect)."""
    import ipaddress
    import socket

    host = request.url.host
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            # Not loop.getaddrinfo: its executor thread would hold up exit on a stuck lookup.
            infos = await run_abandonable(
                "fetch_url lookup", socket.getaddrinfo, host, None, type=socket.SOCK_STREAM
            )
        except OSError:
            return  # httpx reports the lookup failure itself
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not address.is_global:
            raise PrivateAddressError(f"{host} resolves to {address}, which is not public")


async def _fetch(
    url: str, max_bytes: int, timeout: float, allow_private: bool = False
) -> ToolOutcome:
    import httpx

    hooks: dict[str, list[Any]] = {"request": [] if allow_private else [_check_public]}
    async with (
        httpx.AsyncClient(
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(timeout),
            event_hooks=hooks,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/json,text/*;q=0.9,*/*;q=0.5",
            },
        ) as client,
        client.stream("GET", url) as response,
    ):
        content_type = response.headers.get("content-type", "")
        body = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > max_bytes:
                del body[max_bytes:]
                truncated = True
                break
        status = response.status_code
        final_url = str(response.url)
    mime = content_type.split(";")[0].strip().lower()
    is_text = (
        mime.startswith("text/")
        or mime in _TEXT_TYPES
        or mime.endswith(("+json", "+xml"))
        or not mime
    )
    if not is_text:
        return ToolOutcome(
            ok=status < 400,
            content=f"{final_url} returned {mime} content ({len(body)} bytes{'+' if truncated else ''}); "
            "it is not text, so it is not shown.",
        )
    # Parsing a page of up to max_bytes takes a while: off the event loop.
    title, text = await run_abandonable("fetch_url", _readable, bytes(body), content_type, mime)
    if truncated:
        text += f"\n[truncated at {max_bytes} bytes]"
    header = f"# {title}\n\n" if title else ""
    if status >= 400:
        return ToolOutcome(
            ok=False, content=f"HTTP {status} from {final_url}\n{header}{text[:2000]}"
        )
    return ToolOutcome(
        ok=True,
        content=header + text,
        structured={
            "url": final_url,
            "status": status,
            "content_type": mime,
            "truncated": truncated,
        },
    )


async def run(arguments: dict[str, Any], ctx: BuiltinContext) -> ToolOutcome:
    url = arguments.get("url")
    if not isinstance(url, str) or not url.strip():
        return ToolOutcome(ok=False, content="fetch_url needs a 'url' string")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ToolOutcome(
            ok=False, content=f"only http:// and https:// URLs can be fetched, not {url!r}"
        )
    limits = ctx.formation.fetch
    try:
        async with asyncio.timeout(limits.timeout):
            return await _fetch(url, limits.max_bytes, limits.timeout, limits.allow_private)
    except PrivateAddressError as exc:
        return ToolOutcome(
            ok=False,
            content=f"refused to fetch {url}: {exc}. Set fetch.allow_private: true in muxi.yaml "
            "to let agents reach local and private addresses.",
        )
    except TimeoutError:
        return ToolOutcome(ok=False, content=f"fetching {url} took longer than {limits.timeout:g}s")
    except Exception as exc:
        import httpx

        if isinstance(exc, httpx.TooManyRedirects):
            return ToolOutcome(ok=False, content=f"too many redirects fetching {url}")
        if isinstance(exc, httpx.HTTPError):
            return ToolOutcome(
                ok=False, content=f"could not fetch {url}: {type(exc).__name__}: {exc}"
            )
        raise


TOOLS = {"fetch_url": (DESCRIPTION, SCHEMA, run)}
