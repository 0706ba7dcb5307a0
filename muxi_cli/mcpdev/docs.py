"""``muxi mcp docs``: Markdown documentation of a server, from what it reports.

The page has the server's name, version and instructions, then one section
per tool (description, a parameters table, an example call generated from
the input schema, the output schema, annotations), resources, resource
templates and prompts (with an arguments table).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from muxi_cli.mcpdev.examples import _resolve, arguments_example, properties, type_label

if TYPE_CHECKING:
    from muxi_cli.mcpdev.session import Inventory

_ANNOTATION_NAMES = {
    "readOnlyHint": "read-only",
    "destructiveHint": "destructive",
    "idempotentHint": "idempotent",
    "openWorldHint": "open world",
}


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _code(value: Any) -> str:
    text = (
        json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)
    )
    text = text.replace("|", "\\|")
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def anchor(text: str) -> str:
    """A GitHub-style heading anchor."""

    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    return slug


def _block(lang: str, body: str) -> list[str]:
    fence = "```"
    while fence in body:
        fence += "`"
    return [f"{fence}{lang}", body, fence, ""]


def _param_rows(schema: dict[str, Any]) -> list[str]:

    root = schema
    props = properties(schema)
    required = set(schema.get("required") or [])
    rows = [
        "| Name | Type | Required | Description | Default |",
        "|---|---|---|---|---|",
    ]
    for name, prop in props.items():
        resolved = _resolve(prop, root, 0)
        resolved = resolved if isinstance(resolved, dict) else {}
        kind = type_label(resolved, root)
        enum = resolved.get("enum")
        if isinstance(enum, list):
            kind = (
                "one of "
                + ", ".join(_code(v) for v in enum[:12])
                + (", …" if len(enum) > 12 else "")
            )
        description = str(resolved.get("description") or "")
        limits = _limits(resolved)
        if limits:
            description = f"{description} ({limits})" if description else limits
        default = _code(resolved["default"]) if "default" in resolved else ""
        rows.append(
            f"| `{cell(name)}` | {cell(kind)} | {'yes' if name in required else 'no'} | "
            f"{cell(description)} | {default} |"
        )
    return rows


def _limits(schema: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("minimum", "min"),
        ("exclusiveMinimum", "over"),
        ("maximum", "max"),
        ("exclusiveMaximum", "under"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("pattern", "pattern"),
        ("format", "format"),
    ):
        if key in schema:
            value = schema[key]
            parts.append(f"{label} {_code(value) if key == 'pattern' else value}")
    return ", ".join(parts)


def _tool_section(tool: dict[str, Any]) -> list[str]:

    name = str(tool.get("name"))
    title = tool.get("title") or (tool.get("annotations") or {}).get("title")
    lines = [f"### `{name}`" + (f": {title}" if title else ""), ""]
    description = (tool.get("description") or "").strip()
    lines += [description or "_No description._", ""]
    raw = tool.get("inputSchema")
    schema: dict[str, Any] = raw if isinstance(raw, dict) else {}
    props = properties(schema)
    lines += ["**Parameters**", ""]
    if props:
        lines += [*_param_rows(schema), ""]
    else:
        lines += ["None.", ""]
    example = {"name": name, "arguments": arguments_example(schema, full=True)}
    lines += ["**Example call** (`tools/call` params)", ""]
    lines += _block("json", json.dumps(example, indent=2, ensure_ascii=False))
    output = tool.get("outputSchema")
    if output is not None:
        lines += ["**Output schema**", ""]
        lines += _block("json", json.dumps(output, indent=2, ensure_ascii=False))
    notes = tool.get("annotations") or {}
    hints = [
        f"{label}: {'yes' if notes[key] else 'no'}"
        for key, label in _ANNOTATION_NAMES.items()
        if key in notes
    ]
    if hints:
        lines += ["**Annotations**: " + ", ".join(hints), ""]
    return lines


def render_markdown(inv: Inventory) -> str:
    """The whole page."""
    meta = inv.server
    title = meta.title or meta.name or "MCP server"
    lines = [f"# {title}", ""]
    facts = []
    if meta.name:
        facts.append(f"**Server name:** `{meta.name}`")
    if meta.version:
        facts.append(f"**Version:** {meta.version}")
    if meta.protocol_version:
        facts.append(f"**MCP protocol:** {meta.protocol_version}")
    if facts:
        lines += ["  \n".join(facts), ""]
    if meta.instructions.strip():
        lines += ["## Instructions", "", meta.instructions.strip(), ""]
    counts = [
        ("Tools", inv.tools),
        ("Resources", inv.resources),
        ("Resource templates", inv.templates),
        ("Prompts", inv.prompts),
    ]
    present = [(label, items) for label, items in counts if items]
    if present:
        lines += ["## Contents", ""]
        for label, items in present:
            lines.append(f"- [{label}](#{anchor(label)}) ({len(items)})")
        lines.append("")
    if inv.tools:
        lines += ["## Tools", ""]
        lines += ["| Tool | Description |", "|---|---|"]
        for tool in inv.tools:
            name = str(tool.get("name"))
            first = (tool.get("description") or "").strip().splitlines()
            lines.append(
                f"| [`{cell(name)}`](#{anchor(name)}) | {cell(first[0] if first else '')} |"
            )
        lines.append("")
        for tool in inv.tools:
            lines += _tool_section(tool)
    if inv.resources:
        lines += [
            "## Resources",
            "",
            "| URI | Name | MIME type | Description |",
            "|---|---|---|---|",
        ]
        for res in inv.resources:
            lines.append(
                f"| `{cell(res.get('uri'))}` | {cell(res.get('title') or res.get('name'))} | "
                f"{cell(res.get('mimeType'))} | {cell(res.get('description'))} |"
            )
        lines.append("")
    if inv.templates:
        lines += [
            "## Resource templates",
            "",
            "| URI template | Name | MIME type | Description |",
            "|---|---|---|---|",
        ]
        for tpl in inv.templates:
            lines.append(
                f"| `{cell(tpl.get('uriTemplate'))}` | {cell(tpl.get('title') or tpl.get('name'))} | "
                f"{cell(tpl.get('mimeType'))} | {cell(tpl.get('description'))} |"
            )
        lines.append("")
    if inv.prompts:
        lines += ["## Prompts", ""]
        for prompt in inv.prompts:
            name = str(prompt.get("name"))
            heading = prompt.get("title")
            lines += [f"### `{name}`" + (f": {heading}" if heading else ""), ""]
            lines += [(prompt.get("description") or "").strip() or "_No description._", ""]
            args = prompt.get("arguments") or []
            if args:
                lines += ["| Argument | Required | Description |", "|---|---|---|"]
                for arg in args:
                    lines.append(
                        f"| `{cell(arg.get('name'))}` | {'yes' if arg.get('required') else 'no'} | "
                        f"{cell(arg.get('description'))} |"
                    )
                lines.append("")
            else:
                lines += ["No arguments.", ""]
    if inv.errors:
        lines += ["## Listing errors", ""]
        lines += [f"- {kind}: {cell(message)}" for kind, message in inv.errors.items()]
        lines.append("")
    if not (inv.tools or inv.resources or inv.templates or inv.prompts):
        lines += ["This server offers no tools, resources or prompts.", ""]
    lines += ["---", "", "_Generated by `muxi mcp docs` from what the server reports._", ""]
    return "\n".join(lines)


async def generate(
    target: Any, *, timeout: float = 30.0, start_timeout: float | None = None
) -> str:
    """Connect to ``target`` and render its page."""
    from muxi_cli.mcpdev.session import DevSession  # deferred: loads asyncio

    async with DevSession(
        target, timeout=timeout, start_timeout=start_timeout, guard_stdout=False
    ) as session:
        inv = await session.inventory()
    return render_markdown(inv)
