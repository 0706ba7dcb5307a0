"""The API contract as data: the OpenAPI document, the events' JSON Schema and
the AsyncAPI description of ``/v1/ws``, as the server serves them and as they
are committed in ``docs/api/``.

``python -m muxi_cli.server.apispec write docs/api`` writes the three files;
``... check docs/api`` exits 1 (naming the files) when the code and the
committed files differ, so CI catches a change to the API that was not
written down.

The documents depend on the code only: ``info.version`` is the API version
(protocol/apiversion.py), not muxi's, so a release does not change them, and
the OpenAPI document comes from an app built with default settings (no route
or schema depends on the settings).
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from muxi_cli.protocol.apiversion import API_VERSION, HEADER
from muxi_cli.protocol.schema import events_schema

#: The committed files, by what they hold.
OPENAPI_FILE = "openapi.json"
EVENTS_FILE = "events.schema.json"
ASYNCAPI_FILE = "asyncapi.json"

#: The schema routes: no key needed (so not in routes.ROUTES, the authenticated ones).
PUBLIC_ROUTES = (
    ("GET", "/v1/schema/events"),
    ("GET", "/v1/schema/asyncapi"),
    # The browser's return from an OAuth login: the unguessable `state` is its credential.
    ("GET", "/v1/mcp/oauth/callback"),
)
#: The routes that stream events as SSE ``data:`` lines.
SSE_OPERATIONS = (("/v1/chat", "post"), ("/v1/runs/{run_id}/events", "get"))
SSE_MEDIA = "text/event-stream"

#: Every error answer: ``{"error": {code, message, hint}}`` (errors may add fields).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "hint": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}

_VERSION_NOTE = (
    f" Every response carries `{HEADER}: {API_VERSION}`; a client may send the "
    f"version it speaks in the same header (another major is answered 400 "
    f"`unsupported_api_version`). Event schemas: `/v1/schema/events`; the WebSocket "
    f"`/v1/ws`: `/v1/schema/asyncapi`."
)


# -- OpenAPI ---------------------------------------------------------------------------


def normalize_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """The served and committed form of FastAPI's document (a new object).

    - ``info.version`` is the API version;
    - the event types are ``components.schemas`` (one per class, and ``Event``,
      the ``oneOf``), named by the SSE responses;
    - FastAPI's 422 answers are replaced by the 400 the server really sends
      (and every operation names the error body as its ``default`` answer);
    - paths and schemas are sorted, so the text does not depend on the order
      in which modules added routes.
    """
    out = copy.deepcopy(doc)
    info = out.setdefault("info", {})
    info["version"] = API_VERSION
    if _VERSION_NOTE not in str(info.get("description", "")):
        info["description"] = str(info.get("description", "")) + _VERSION_NOTE
    schemas: dict[str, Any] = out.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Error"] = copy.deepcopy(ERROR_SCHEMA)
    events = events_schema()
    for name, schema in events["$defs"].items():
        if name in schemas:
            raise ValueError(f"the event type {name} clashes with a schema of the same name")
        schemas[name] = schema
    schemas["Event"] = {
        "title": "Event",
        "description": "One event of a run: an SSE `data:` line, a WebSocket event frame.",
        "oneOf": [{"$ref": f"#/components/schemas/{n}"} for n in events["$defs"]],
    }
    for item in out.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict) and "responses" in op:
                _fix_errors(op["responses"])
    for path, method in SSE_OPERATIONS:
        op = out.get("paths", {}).get(path, {}).get(method)
        if op is not None:
            content = op["responses"].setdefault("200", {}).setdefault("content", {})
            if path != "/v1/chat":  # FastAPI's default; only chat also answers JSON
                content.pop("application/json", None)
            content[SSE_MEDIA] = {
                "schema": {"$ref": "#/components/schemas/Event"},
                "x-muxi-stream": "one event per SSE `data:` line; the SSE `id` is its number",
            }
    out["paths"] = dict(sorted(out.get("paths", {}).items()))
    out["components"]["schemas"] = dict(sorted(schemas.items()))
    return out


def _fix_errors(responses: dict[str, Any]) -> None:
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if responses.pop("422", None) is not None:
        responses["400"] = {"description": "Invalid request", "content": copy.deepcopy(body)}
    responses["default"] = {"description": "An error", "content": copy.deepcopy(body)}


def install_openapi(app: Any) -> None:
    """Serve the normalized document at ``/openapi.json`` (and to ``/docs``)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if not getattr(app.state, "openapi_normalized", False):
            app.openapi_schema = normalize_openapi(original())
            app.state.openapi_normalized = True
        return dict(app.openapi_schema)

    app.openapi = openapi


def canonical_openapi() -> dict[str, Any]:
    """The document of an app with default settings, built without a runtime
    or a data folder (nothing is opened while routes are only declared)."""
    import tempfile  # deferred: only the CLI and tests build the canonical app

    from muxi_cli.server.app import create_app  # deferred: loads FastAPI and the server
    from muxi_cli.stores.server_keys import KeyStore  # deferred: as above

    with tempfile.TemporaryDirectory(prefix="muxi-apispec-") as tmp:
        runtime = _SpecRuntime(Path(tmp) / "sessions.db")
        keys = KeyStore(Path(tmp) / "keys.json", env_admin_key="")
        app = create_app(runtime, keys, access_log=False)  # type: ignore[arg-type]
        return dict(app.openapi())


class _SpecRuntime:
    """Stands in for a runtime while routes are declared (none of them runs)."""

    formation = None
    tap = None

    def __init__(self, path: Path) -> None:
        self.store = type("Store", (), {"path": path})()


# -- the routes ------------------------------------------------------------------------


def add_schema_routes(app: Any) -> None:
    """``GET /v1/schema/events`` and ``/v1/schema/asyncapi``: no key needed (like
    ``/openapi.json``), cacheable (they change only with the server's code)."""
    from starlette.requests import Request  # deferred: Starlette is slow to import
    from starlette.responses import Response  # deferred: as above

    cache: dict[str, tuple[bytes, str]] = {}

    def answer(request: Request, name: str) -> Response:
        if name not in cache:
            body = dump(documents(openapi=app.openapi())[name]).encode()
            cache[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        body, etag = cache[name]
        headers = {"etag": etag, "cache-control": "public, max-age=3600"}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    async def schema_events(request: Request) -> Response:
        return answer(request, EVENTS_FILE)

    async def schema_asyncapi(request: Request) -> Response:
        return answer(request, ASYNCAPI_FILE)

    for path, endpoint, summary in (
        ("/v1/schema/events", schema_events, "The JSON Schema (2020-12) of every event type"),
        ("/v1/schema/asyncapi", schema_asyncapi, "The AsyncAPI 3.0 document of /v1/ws"),
    ):
        # This module uses postponed annotations; FastAPI needs the real classes.
        endpoint.__annotations__ = {"request": Request, "return": Response}
        app.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            tags=["schema"],
            summary=summary + " (no key needed)",
            response_model=None,
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
        )


def _matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` as caches send it: a list, weak validators (a proxy that
    compresses makes ``W/"..."`` of a strong tag), or ``*``."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag in (t.removeprefix("W/") for t in tags)


# -- the files -------------------------------------------------------------------------


def documents(openapi: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The three documents by file name; ``openapi``: a served app's (already
    normalized), else the canonical app's."""
    from muxi_cli.server.asyncapi import asyncapi_document  # deferred: only for its route

    oa = openapi if openapi is not None else canonical_openapi()
    return {
        OPENAPI_FILE: oa,
        EVENTS_FILE: events_schema(),
        ASYNCAPI_FILE: asyncapi_document(oa),
    }


def dump(doc: dict[str, Any]) -> str:
    """The committed text: two-space indents, a final newline, UTF-8 as is."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in documents().items():
        path = folder / name
        path.write_text(dump(doc), encoding="utf-8")
        written.append(path)
    return written


def stale(folder: Path) -> list[str]:
    """The files in ``folder`` that differ from what the code generates."""
    out = []
    for name, doc in documents().items():
        path = folder / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != dump(doc):
            out.append(name)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("write", "check"):
        print("usage: python -m muxi_cli.server.apispec write|check FOLDER", file=sys.stderr)
        return 2
    folder = Path(args[1])
    if args[0] == "write":
        for path in write(folder):
            print(f"wrote {path}")
        return 0
    bad = stale(folder)
    for name in bad:
        print(f"{folder / name}: differs from the code", file=sys.stderr)
    if bad:
        print(f"run: python -m muxi_cli.server.apispec write {folder}", file=sys.stderr)
        return 1
    print(f"{folder}: the API documents match the code")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
