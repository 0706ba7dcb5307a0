"""``fetch_url``: GET a web page over http(s) and return its readable text.

Limits come from the formation's ``fetch:`` block: a total time limit and a
byte limit enforced while streaming. HTML is turned into text with
BeautifulSoup (scripts, styles and navigation dropped); JSON is pretty-printed;
other text is returned as is; binary content is described, not returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from muxi_cli.threads import run_abandonable
from muxi_cli.tools.base import ToolOutcome
from muxi_cli.tools.builtins import BuiltinContext
from muxi_cli.tools.builtins.netguard import (
    IPAddress,
    PrivateAddressError,
    ResolveError,
    Resolver,
    checked_address,
    system_resolver,
)

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
    from bs4 import BeautifulSoup  # deferred: BeautifulSoup is slow to import

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


_REDIRECTS = (301, 302, 303, 307, 308)
#: How host names are resolved (one lookup per hop; tests put their own here).
resolve: Resolver = system_resolver


def _pinned(url: Any, address: IPAddress) -> tuple[Any, dict[str, str], dict[str, Any]]:
    """``url`` with its host replaced by the checked ``address``, plus the Host
    header and TLS server name that keep the request addressed to the real host."""
    host = url.host  # IPv6 hosts come without brackets
    host_header = f"[{host}]" if ":" in host else host
    if url.port is not None:  # None means the scheme's default port
        host_header += f":{url.port}"
    extensions: dict[str, Any] = {"sni_hostname": host} if url.scheme == "https" else {}
    return url.copy_with(host=str(address)), {"Host": host_header}, extensions


@contextlib.asynccontextmanager
async def _open(
    client: Any, url: str, resolver: Resolver, allow_private: bool
) -> AsyncIterator[tuple[Any, str]]:
    """GET ``url``, following redirects by hand: every hop's host is resolved
    once, checked, and connected to at exactly that address."""
    import httpx  # deferred: httpx is slow to import

    current = httpx.URL(url)
    for _hop in range(MAX_REDIRECTS + 1):
        if current.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"redirect to a non-http URL: {current}")
        address = await checked_address(current.host, resolver, allow_private)
        target, headers, extensions = _pinned(current, address)
        request = client.build_request("GET", target, headers=headers, extensions=extensions)
        response = await client.send(request, stream=True)
        location = response.headers.get("location")
        if response.status_code in _REDIRECTS and location:
            await response.aclose()
            current = current.join(location)
            continue
        try:
            yield response, str(current)
        finally:
            await response.aclose()
        return
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


async def _fetch(
    url: str,
    max_bytes: int,
    timeout: float,
    allow_private: bool = False,
    resolver: Resolver | None = None,
) -> ToolOutcome:
    import httpx  # deferred: httpx is slow to import

    async with (
        httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            # Environment proxies would resolve the host themselves, after our
            # check: fetch_url connects directly to the address it checked.
            trust_env=False,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/json,text/*;q=0.9,*/*;q=0.5",
            },
        ) as client,
        _open(client, url, resolver or system_resolver, allow_private) as (response, final_url),
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
            return await _fetch(
                url, limits.max_bytes, limits.timeout, limits.allow_private, resolve
            )
    except PrivateAddressError as exc:
        return ToolOutcome(
            ok=False,
            content=f"refused to fetch {url}: {exc}. Set fetch.allow_private: true in muxi.yaml "
            "to let agents reach local and private addresses.",
        )
    except ResolveError as exc:
        return ToolOutcome(ok=False, content=f"could not fetch {url}: {exc}")
    except TimeoutError:
        return ToolOutcome(ok=False, content=f"fetching {url} took longer than {limits.timeout:g}s")
    except Exception as exc:
        import httpx  # deferred: httpx is slow to import

        if isinstance(exc, httpx.InvalidURL):  # e.g. an octal IPv4 form httpx rejects
            return ToolOutcome(ok=False, content=f"refused to fetch {url}: {exc}")
        if isinstance(exc, httpx.TooManyRedirects):
            return ToolOutcome(ok=False, content=f"too many redirects fetching {url}")
        if isinstance(exc, httpx.HTTPError):
            return ToolOutcome(
                ok=False, content=f"could not fetch {url}: {type(exc).__name__}: {exc}"
            )
        raise


TOOLS = {"fetch_url": (DESCRIPTION, SCHEMA, run)}
