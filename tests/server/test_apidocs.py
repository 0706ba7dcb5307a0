"""``/docs`` renders offline: one page from the server, nothing loaded from elsewhere."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from tests.server.conftest import Served


class _Refs(HTMLParser):
    """Every URL the page would make a browser fetch or follow."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "poster", "srcset", "data") and value:
                self.urls.append(value)


async def test_the_docs_page_needs_nothing_but_the_server(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as c:
        r = await c.get("/docs")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in r.headers["content-security-policy"]
        html = r.text
        refs = _Refs()
        refs.feed(html)
        # No scripts, no external stylesheets or fonts; CSS pulls nothing in.
        assert "script" not in refs.tags and "link" not in refs.tags
        assert not re.search(r"url\(|@import", html)
        assert not re.search(r"(?:https?:)?//", " ".join(refs.urls)), refs.urls
        for url in {u for u in refs.urls if not u.startswith("#")}:
            assert (await c.get(url)).status_code == 200, url
        # Every anchor link lands on the page, and every route is documented.
        ids = set(re.findall(r'id="([^"]+)"', html))
        assert {u[1:] for u in refs.urls if u.startswith("#")} <= ids
        for path in ("/v1/chat", "/v1/mcp/resources/read", "/v1/approvals/{call_id}"):
            assert f"<code>{path}</code>" in html
        assert "schema-SessionInfo" in ids


async def test_the_upload_route_documents_its_form_fields(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=20) as c:
        doc = (await c.get("/openapi.json")).json()
        html = (await c.get("/docs")).text
    body = doc["paths"]["/v1/media"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["file"]
    assert doc["paths"]["/v1/media/{media_id}"]["get"]["responses"]["200"]
    upload = html[html.index("<code>/v1/media</code>") :]
    assert "multipart/form-data body" in upload[:2000]
    assert "<code>file</code>" in upload[:2000] and "<code>media_type</code>" in upload[:2000]
