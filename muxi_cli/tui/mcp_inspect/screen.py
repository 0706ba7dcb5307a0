"""The MCP inspector screen: browse a server, fill a form, call, read, render.

Left: a tree of the server's tools, resources, resource templates and
prompts. Right: the selected item's description, a form built from its schema
(one input per property, typed; JSON text for complex values; F2 switches to
one JSON object for all arguments), and the raw result with its status and
time. Everything goes through a :class:`~muxi_cli.mcpdev.session.DevSession`:
the screen never talks to an MCP client itself.

Keys: arrows/Enter in the tree, Tab between inputs, Ctrl+R (or Enter in an
input) to call/read/render, F2 for JSON arguments, Ctrl+L to reconnect and
list again, Esc to go back to the tree (and from the tree, to leave).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static, TextArea, Tree

from muxi_cli.mcpdev.examples import arguments_example
from muxi_cli.mcpdev.forms import (
    Field,
    build_arguments,
    fill_template,
    parse_json_arguments,
    prompt_fields,
    template_fields,
    tool_fields,
)

if TYPE_CHECKING:
    from textual.widget import Widget
    from textual.widgets.tree import TreeNode

    from muxi_cli.mcpdev.session import DevSession, Inventory, Outcome

ItemKind = Literal["tool", "resource", "template", "prompt"]
_ACTION = {"tool": "Call", "resource": "Read", "template": "Read", "prompt": "Render"}
_STATUS_STYLE = {
    "ok": "green",
    "error": "yellow",
    "rejected": "yellow",
    "bad_output": "red",
    "crash": "red",
    "timeout": "red",
    "unavailable": "red",
}


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 1 else f"{value:.2f} ms"


class McpInspectScreen(Screen[None]):
    DEFAULT_CSS = """
    McpInspectScreen { layout: vertical; }
    McpInspectScreen #topbar { height: 1; background: $panel; color: $text; padding: 0 1; }
    McpInspectScreen #main { height: 1fr; }
    McpInspectScreen #browser { width: 38; border-right: solid $panel-lighten-2; }
    McpInspectScreen #detail { width: 1fr; padding: 0 1; }
    McpInspectScreen #item-title { text-style: bold; margin-top: 1; }
    McpInspectScreen #item-info { color: $text-muted; margin-bottom: 1; }
    McpInspectScreen #form { height: auto; }
    McpInspectScreen .field-label { margin-top: 1; }
    McpInspectScreen .field-help { color: $text-muted; }
    McpInspectScreen .json-field { height: 6; }
    McpInspectScreen #json-args { height: 10; }
    McpInspectScreen #actions { height: auto; margin-top: 1; }
    McpInspectScreen #actions .hint { color: $text-muted; padding: 1 0 0 2; }
    McpInspectScreen #status { margin-top: 1; height: auto; }
    McpInspectScreen #result { height: 18; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run", "Run", priority=True),
        Binding("f2", "toggle_json", "JSON args"),
        Binding("ctrl+l", "reload", "Reconnect"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, session: DevSession, *, closable: bool = True) -> None:
        super().__init__()
        self.session = session
        self.closable = closable
        self.inventory: Inventory | None = None
        self.current: tuple[ItemKind, dict[str, Any]] | None = None
        self.fields: list[Field] = []
        self.json_mode = False
        self.last_outcome: Outcome | None = None
        self.error: str = ""
        #: Set when the listing (or the connection error) is on screen.
        self.loaded = asyncio.Event()
        #: Set after each call/read/render (tests clear it before the next one).
        self.results = asyncio.Event()

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(f"MCP inspector · {self.session.target.display}", id="topbar")
        with Horizontal(id="main"):
            tree: Tree[tuple[ItemKind, dict[str, Any]] | None] = Tree("connecting…", id="browser")
            tree.show_root = True
            yield tree
            with VerticalScroll(id="detail"):
                yield Static("", id="item-title")
                yield Static("Connecting to the server…", id="item-info")
                yield Vertical(id="form")
                with Horizontal(id="actions"):
                    yield Button("Call", id="run", variant="primary", disabled=True)
                    yield Label("Ctrl+R runs · F2 JSON arguments · Esc back", classes="hint")
                yield Static("", id="status")
                yield TextArea("", id="result", read_only=True, soft_wrap=True)
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._connect(), group="connect", exclusive=True)

    async def on_unmount(self) -> None:
        try:
            await asyncio.wait_for(self.session.aclose(), 15)
        except (TimeoutError, Exception):  # leaving must never hang or crash
            pass

    # -- connection and listing ----------------------------------------------------

    async def _connect(self) -> None:
        from muxi_cli.mcpdev.session import (
            ConnectError,  # deferred: loads muxi's config, errors, mcpdev and more
        )

        tree = self.query_one("#browser", Tree)
        info = self.query_one("#item-info", Static)
        self.loaded.clear()
        try:
            await self.session.connect()
            inventory = await self.session.inventory()
        except ConnectError as exc:
            self.error = exc.message
            tree.root.label = "not connected"
            info.update(
                f"[red]Could not connect:[/red] {_escape(exc.message)}\n{_escape(exc.hint or '')}"
            )
            self.query_one("#result", TextArea).text = exc.stderr
            self.loaded.set()
            return
        self.error = ""
        self.inventory = inventory
        first = self._fill_tree(inventory)
        meta = inventory.server
        started = f" · started in {self.session.startup_ms} ms" if self.session.startup_ms else ""
        info.update(
            _escape(meta.instructions or "Pick an item on the left.")
            + f"\n[dim]protocol {meta.protocol_version or '?'}{started}[/dim]"
        )
        if first is not None and first.data is not None:
            tree.call_after_refresh(tree.move_cursor, first)
            kind, item = first.data
            await self.show_item(kind, item)
        self.loaded.set()

    def _fill_tree(self, inventory: Inventory) -> TreeNode[Any] | None:
        tree: Tree[tuple[ItemKind, dict[str, Any]] | None] = self.query_one("#browser", Tree)
        tree.clear()
        meta = inventory.server
        tree.root.label = f"{meta.title or meta.name or 'server'} {meta.version}".strip()
        groups: list[tuple[ItemKind, str, list[dict[str, Any]], str]] = [
            ("tool", "Tools", inventory.tools, "name"),
            ("resource", "Resources", inventory.resources, "uri"),
            ("template", "Resource templates", inventory.templates, "uriTemplate"),
            ("prompt", "Prompts", inventory.prompts, "name"),
        ]
        first = None
        for kind, label, items, key in groups:
            error = inventory.errors.get(f"{kind}s" if kind != "template" else "templates")
            suffix = " (listing failed)" if error else f" ({len(items)})"
            branch = tree.root.add(label + suffix, data=None, expand=True)
            for item in items:
                leaf = branch.add_leaf(str(item.get(key) or "?"), data=(kind, item))
                first = first or leaf
        tree.root.expand()
        tree.focus()
        return first

    # -- showing an item ---------------------------------------------------------------

    @on(Tree.NodeHighlighted, "#browser")
    async def _highlighted(self, event: Tree.NodeHighlighted[Any]) -> None:
        if event.node.data is not None and event.node.data != self.current:
            await self.show_item(*event.node.data)

    @on(Tree.NodeSelected, "#browser")
    async def _selected(self, event: Tree.NodeSelected[Any]) -> None:
        if event.node.data is None:
            return
        if event.node.data != self.current:
            await self.show_item(*event.node.data)
        focusable = [
            w for w in self.query("#form Input, #form Select, #form TextArea") if w.focusable
        ]
        if focusable:
            focusable[0].focus()
        else:
            self.query_one("#run", Button).focus()

    async def show_item(self, kind: ItemKind, item: dict[str, Any]) -> None:
        self.current = (kind, item)
        title = self.query_one("#item-title", Static)
        info = self.query_one("#item-info", Static)
        if kind == "tool":
            title.update(f"tool {_escape(str(item.get('name')))}")
            self.fields = tool_fields(item.get("inputSchema"))
            info.update(_escape(_tool_info(item)))
        elif kind == "resource":
            title.update(f"resource {_escape(str(item.get('uri')))}")
            self.fields = []
            info.update(_escape(_resource_info(item)))
        elif kind == "template":
            title.update(f"resource template {_escape(str(item.get('uriTemplate')))}")
            self.fields = template_fields(str(item.get("uriTemplate") or ""))
            info.update(_escape(_resource_info(item)))
        else:
            title.update(f"prompt {_escape(str(item.get('name')))}")
            self.fields = prompt_fields(item)
            info.update(_escape(str(item.get("description") or "(no description)")))
        button = self.query_one("#run", Button)
        button.label = _ACTION[kind]
        button.disabled = False
        self.json_mode = False
        await self._build_form()

    async def _build_form(self, json_text: str = "{}") -> None:
        form = self.query_one("#form", Vertical)
        await form.remove_children()
        widgets: list[Widget] = []
        if self.json_mode:
            widgets.append(
                Label("Arguments (one JSON object; F2 for the form)", classes="field-label")
            )
            widgets.append(TextArea(json_text, id="json-args", soft_wrap=True))
        else:
            for index, spec in enumerate(self.fields):
                widgets.append(Label(_escape(spec.label), classes="field-label"))
                if spec.description:
                    widgets.append(Label(_escape(spec.description), classes="field-help"))
                widgets.append(field_widget(spec, f"field-{index}"))
            if not self.fields and self.current is not None:
                kind = self.current[0]
                text = "No arguments." if kind != "resource" else "Nothing to fill in."
                widgets.append(Label(text, classes="field-help"))
        await form.mount_all(widgets)

    def _example_text(self) -> str:
        try:
            current = self.form_arguments() if self.fields else {}
        except ValueError:
            current = {}
        if not current and self.current is not None and self.current[0] == "tool":
            current = arguments_example(self.current[1].get("inputSchema"))
        return json.dumps(current, indent=2, ensure_ascii=False)

    # -- reading the form -------------------------------------------------------------------

    def form_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for index, spec in enumerate(self.fields):
            matches = self.query(f"#field-{index}")
            if not matches:
                continue
            widget = matches.first()
            if isinstance(widget, Input):
                values[spec.name] = widget.value
            elif isinstance(widget, Select):
                values[spec.name] = None if widget.value is Select.NULL else widget.value
            elif isinstance(widget, TextArea):
                values[spec.name] = widget.text
        return values

    def form_arguments(self) -> dict[str, Any]:
        """The arguments as they would be sent (ValueError when an input is malformed)."""
        if self.json_mode:
            return parse_json_arguments(self.query_one("#json-args", TextArea).text)
        return build_arguments(self.fields, self.form_values())

    # -- actions -----------------------------------------------------------------------------

    def action_run(self) -> None:
        if self.current is None or self.inventory is None:
            return
        self.run_worker(self._run_current(), group="run", exclusive=True)

    @on(Button.Pressed, "#run")
    def _pressed(self) -> None:
        self.action_run()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_run()

    async def action_toggle_json(self) -> None:
        if self.current is None or self.current[0] == "resource":
            return
        if not self.json_mode:
            text = self._example_text()  # what the form holds now, or an example
            self.json_mode = True
            await self._build_form(text)
            self.query_one("#json-args", TextArea).focus()
            return
        self.json_mode = False
        await self._build_form()

    def action_reload(self) -> None:
        self.current = None
        self.run_worker(self._reconnect(), group="connect", exclusive=True)

    async def _reconnect(self) -> None:
        await self.session.aclose()
        await self._connect()

    def action_back(self) -> None:
        focused = self.focused
        tree = self.query_one("#browser", Tree)
        if focused is not None and focused is not tree:
            tree.focus()
        elif self.closable:
            self.dismiss(None)
        else:
            self.app.exit()

    async def _run_current(self) -> None:
        assert self.current is not None
        kind, item = self.current
        status = self.query_one("#status", Static)
        result = self.query_one("#result", TextArea)
        try:
            arguments = self.form_arguments()
        except ValueError as exc:
            status.update(f"[red]Not sent:[/red] {_escape(str(exc))}")
            self.results.set()
            return
        status.update(f"[dim]{_ACTION[kind]}ing…[/dim]")
        if kind == "tool":
            outcome = await self.session.call_tool(str(item.get("name")), arguments)
        elif kind == "resource":
            outcome = await self.session.read_resource(str(item.get("uri")))
        elif kind == "template":
            params = {k: str(v) for k, v in arguments.items()}
            uri = fill_template(str(item.get("uriTemplate") or ""), params)
            outcome = await self.session.read_resource(uri)
        else:
            strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in arguments.items()}
            outcome = await self.session.get_prompt(str(item.get("name")), strings)
        self.last_outcome = outcome
        style = _STATUS_STYLE.get(outcome.status, "white")
        label = "is_error: true" if outcome.status == "error" else outcome.status
        line = f"[{style}]{label}[/{style}] · {_ms(outcome.duration_ms)}"
        if outcome.status != "ok" and outcome.message:
            line += f"\n{_escape(outcome.message.splitlines()[0])}"
        status.update(line)
        body: Any = outcome.raw if outcome.raw is not None else {"error": outcome.message}
        result.text = json.dumps(body, indent=2, ensure_ascii=False, default=str)
        self.results.set()


def field_widget(spec: Field, widget_id: str) -> Widget:
    if spec.kind == "boolean":
        value = spec.default if spec.has_default and isinstance(spec.default, bool) else Select.NULL
        return Select(
            [("true", True), ("false", False)], id=widget_id, value=value, allow_blank=True
        )
    if spec.kind == "enum":
        options = [(v if isinstance(v, str) else json.dumps(v), v) for v in spec.options]
        value = spec.default if spec.has_default and spec.default in spec.options else Select.NULL
        return Select(options, id=widget_id, value=value, allow_blank=True)
    if spec.kind == "json":
        return TextArea(spec.initial_text(), id=widget_id, classes="json-field", soft_wrap=True)
    input_type: Literal["integer", "number", "text"] = (
        "integer" if spec.kind == "integer" else "number" if spec.kind == "number" else "text"
    )
    return Input(
        spec.initial_text(),
        placeholder=spec.type_label + (" (required)" if spec.required else ""),
        type=input_type,
        id=widget_id,
    )


def _tool_info(tool: dict[str, Any]) -> str:
    lines = [str(tool.get("description") or "(no description)").strip()]
    notes = tool.get("annotations") or {}
    hints = [k.removesuffix("Hint") for k, v in notes.items() if k.endswith("Hint") and v is True]
    if hints:
        lines.append("hints: " + ", ".join(hints))
    if tool.get("outputSchema") is not None:
        lines.append("returns structured content (has an output schema)")
    return "\n".join(lines)


def _resource_info(item: dict[str, Any]) -> str:
    parts = [str(item.get("description") or "(no description)").strip()]
    if item.get("mimeType"):
        parts.append(f"type: {item['mimeType']}")
    return "\n".join(parts)


def _escape(text: str) -> str:

    return escape(text)
