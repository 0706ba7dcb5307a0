"""``GET /docs``: the API reference as one self-contained HTML page.

Rendered on the server from the app's own OpenAPI document: no JavaScript, no
fonts or stylesheets from elsewhere, so it works offline and behind strict
firewalls, and adds nothing to the wheel. The machine-readable document stays
at ``/openapi.json`` for code generators and interactive tools.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

#: The page's only style (inline; the CSP below allows nothing else).
_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}
code,pre{font:13px ui-monospace,monospace;background:#f4f4f4;border-radius:3px}
code{padding:0 .25rem}pre{padding:.6rem;overflow-x:auto}
.op{border:1px solid #ddd;border-radius:4px;margin:1rem 0;padding:.4rem .8rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700}
.GET{color:#1a6}.POST{color:#16a}.PATCH{color:#a61}.DELETE{color:#b22}
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #ddd;padding:.15rem .5rem;
text-align:left;vertical-align:top}.muted{color:#666}nav a{margin-right:.8rem}
@media (prefers-color-scheme:dark){body{background:#161616;color:#ddd}
code,pre{background:#262626}.op,td,th,h2{border-color:#444}.muted{color:#999}}
"""
#: Nothing may load from anywhere; only the inline style applies.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict[str, Any]) -> str:
    """A short, readable type: ``list[SessionInfo]``, ``string | null``, ``"md" | "json"``."""
    if "$ref" in schema:
        name = _ref_name(str(schema["$ref"]))
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "enum" in schema:
        return " | ".join(escape(json.dumps(v)) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(type_of(s) for s in schema[key])
    kind = schema.get("type")
    if kind == "array":
        return f"list[{type_of(schema.get('items') or {})}]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map[string, {type_of(schema['additionalProperties'])}]"
    return escape(str(kind or "any"))


def _limits(schema: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("default", "default"),
    ):
        value = schema.get(key)
        if value is None:
            for sub in schema.get("anyOf", []):
                value = sub.get(key) if value is None else value
        if value is not None:
            parts.append(f"{label} {escape(json.dumps(value))}")
    return ", ".join(parts)


def _row(name: str, schema: dict[str, Any], required: bool, where: str = "") -> str:
    desc = escape(str(schema.get("description") or ""))
    extra = _limits(schema)
    note = " ".join(p for p in (desc, f"({extra})" if extra else "") if p)
    req = "required" if required else '<span class="muted">optional</span>'
    cells = [f"<code>{escape(name)}</code>"]
    if where:
        cells.append(escape(where))
    cells += [type_of(schema), req, note]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    out = [f'<div class="op" id="{escape(op.get("operationId", ""))}">']
    out.append(
        f'<span class="m {method.upper()}">{method.upper()}</span> <code>{escape(path)}</code>'
    )
    if op.get("summary"):
        out.append(f" &mdash; {escape(str(op['summary']))}")
    if op.get("description"):
        out.append(f"<p>{escape(str(op['description']))}</p>")
    params = op.get("parameters") or []
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th><th></th></tr>")
        for p in params:
            out.append(_row(p["name"], p.get("schema") or {}, bool(p.get("required")), p["in"]))
        out.append("</table>")
    content = (op.get("requestBody") or {}).get("content", {})
    body = content.get("application/json")
    if body:
        out.append(f"<p>JSON body: {type_of(body.get('schema') or {})}</p>")
    form = (content.get("multipart/form-data") or {}).get("schema") or {}
    if form.get("properties"):  # uploads: list the form's fields
        out.append("<p>multipart/form-data body:</p>")
        out.append("<table><tr><th>field</th><th>type</th><th></th><th></th></tr>")
        needed = set(form.get("required") or [])
        out += [_row(k, v, k in needed) for k, v in form["properties"].items()]
        out.append("</table>")
    answers = []
    for status, resp in (op.get("responses") or {}).items():
        if status == "422":
            continue  # validation errors are answered as 400 with the error body below
        schema = (resp.get("content") or {}).get("application/json", {}).get("schema")
        kind = type_of(schema) if schema else "any"
        shown = f": {kind}" if kind != "any" else ""
        answers.append(f"<code>{escape(status)}</code>{shown}")
    if answers:
        out.append(f'<p class="muted">returns {", ".join(answers)}</p>')
    out.append("</div>")
    return "".join(out)


def _schema(name: str, schema: dict[str, Any]) -> str:
    out = [f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>']
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    if props:
        out.append("<table><tr><th>field</th><th>type</th><th></th><th></th></tr>")
        out += [_row(k, v, k in required) for k, v in props.items()]
        out.append("</table>")
    else:
        out.append(f"<p>{type_of(schema)}</p>")
    return "".join(out)


def render(doc: dict[str, Any]) -> str:
    """The whole page for an OpenAPI document."""
    info = doc.get("info") or {}
    title = escape(str(info.get("title", "API")))
    by_tag: dict[str, list[str]] = {}
    for path, item in (doc.get("paths") or {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is not None:
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation(method, path, op))
    schemas = (doc.get("components") or {}).get("schemas") or {}
    nav = "".join(f'<a href="#tag-{escape(t)}">{escape(t)}</a>' for t in by_tag)
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title} <small class=muted>{escape(str(info.get('version', '')))}</small></h1>",
        f"<p>{escape(str(info.get('description', '')))}</p>",
        '<p>Errors are <code>{"error": {"code", "message", "hint"}}</code>. '
        'The machine-readable document is <a href="/openapi.json">/openapi.json</a>; '
        "the WebSocket <code>/v1/ws</code> is described in docs/server.md.</p>",
        f"<nav>{nav}<a href='#schemas'>schemas</a></nav>",
    ]
    for tag, ops in by_tag.items():
        parts.append(f'<h2 id="tag-{escape(tag)}">{escape(tag)}</h2>')
        parts += ops
    parts.append('<h2 id="schemas">Schemas</h2>')
    parts += [_schema(n, s) for n, s in schemas.items()]
    parts.append("</body></html>")
    return "\n".join(parts)


def add_docs_route(app: Any) -> None:
    from starlette.responses import HTMLResponse  # deferred: Starlette is slow to import

    page: list[str] = []

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if not page:  # the routes are all known by the first request
            page.append(render(app.openapi()))
        return HTMLResponse(
            page[0], headers={"content-security-policy": CSP, "cache-control": "no-cache"}
        )
