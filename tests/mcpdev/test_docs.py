"""Markdown docs rendered from a server's inventory."""

from __future__ import annotations

from muxi_cli.mcpdev.docs import anchor, cell, render_markdown
from muxi_cli.mcpdev.session import Inventory, ServerMeta

TOOL = {
    "name": "search",
    "title": "Search notes",
    "description": "Find notes.\nSecond line.",
    "inputSchema": {
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": "Words to look for | or phrases",
                "minLength": 1,
            },
            "limit": {"type": "integer", "default": 10, "minimum": 1, "maximum": 50},
            "order": {"enum": ["new", "old"], "description": "Sort order"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["query"],
    },
    "outputSchema": {"type": "object", "properties": {"hits": {"type": "integer"}}},
    "annotations": {"readOnlyHint": True, "openWorldHint": False},
}


def inventory() -> Inventory:
    return Inventory(
        server=ServerMeta(
            name="notes",
            version="1.2.0",
            instructions="Use search first.",
            protocol_version="2026-07-28",
        ),
        tools=[TOOL, {"name": "ping", "inputSchema": {"type": "object", "properties": {}}}],
        resources=[
            {
                "uri": "notes://index",
                "name": "index",
                "mimeType": "text/plain",
                "description": "All notes",
            }
        ],
        templates=[{"uriTemplate": "notes://{id}", "name": "note", "description": "One note"}],
        prompts=[
            {
                "name": "summarize",
                "description": "Summarize a note",
                "arguments": [
                    {"name": "id", "required": True, "description": "Note id"},
                    {"name": "style"},
                ],
            }
        ],
    )


def test_page_has_every_section() -> None:
    text = render_markdown(inventory())
    assert text.startswith("# notes\n")
    assert "**Version:** 1.2.0" in text and "## Instructions\n\nUse search first." in text
    assert "- [Tools](#tools) (2)" in text and "- [Prompts](#prompts) (1)" in text
    assert "| [`search`](#search) | Find notes. |" in text
    assert "### `search`: Search notes" in text


def test_parameters_table() -> None:
    text = render_markdown(inventory())
    assert "| Name | Type | Required | Description | Default |" in text
    assert "| `query` | string | yes | Words to look for \\| or phrases (min length 1) |  |" in text
    assert "| `limit` | integer | no | min 1, max 50 | `10` |" in text
    assert '| `order` | one of `"new"`, `"old"` | no | Sort order |  |' in text
    assert "| `tags` | array of string | no |  |  |" in text


def test_example_output_schema_and_annotations() -> None:
    text = render_markdown(inventory())
    assert '"name": "search"' in text and '"query": "example"' in text and '"limit": 10' in text
    assert "**Output schema**" in text and '"hits"' in text
    assert "**Annotations**: read-only: yes, open world: no" in text
    ping = text.split("### `ping`")[1]
    assert "_No description._" in ping and "None." in ping


def test_resources_templates_prompts() -> None:
    text = render_markdown(inventory())
    assert "| `notes://index` | index | text/plain | All notes |" in text
    assert "| `notes://{id}` | note |  | One note |" in text
    assert "| `id` | yes | Note id |" in text and "| `style` | no |  |" in text


def test_empty_server_and_listing_errors() -> None:
    inv = Inventory(
        server=ServerMeta(name="empty"), errors={"prompts": "listing prompts failed: boom"}
    )
    text = render_markdown(inv)
    assert "offers no tools, resources or prompts" in text
    assert "## Listing errors" in text and "boom" in text


def test_helpers() -> None:
    assert cell("a|b\nc") == "a\\|b c"
    assert anchor("Resource templates") == "resource-templates"
    assert anchor("get_current_time") == "get_current_time"
