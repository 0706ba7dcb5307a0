"""A small, strict template engine for project scaffolds.

Syntax (a deliberately tiny subset of what Jinja users know):

- ``{{ name }}`` or ``{{ item.field }}``: substitute a value; ``{{ value | q }}``
  writes it as a double-quoted string that is valid in Python, JSON, TOML and
  YAML; ``{{ value | doc }}`` makes it safe inside a Python docstring.
- ``{% if cond %}`` / ``{% else %}`` / ``{% endif %}`` and
  ``{% for item in items %}`` / ``{% endfor %}``: block tags, each alone on its
  own line (the whole line disappears from the output). ``cond`` is a name,
  ``not name``, or names joined with ``and`` / ``or`` (``and`` binds tighter).

The engine is strict: an unknown name, an unknown filter, an unclosed block or
a stray ``{{`` / ``{%`` raises :class:`TemplateError` with the template and line.
Substituted values are never rendered again, so a value containing ``{{``
cannot inject template code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from muxi_cli.errors import MuxiError

_VAR = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_BLOCK = re.compile(r"^\s*\{%\s*(.*?)\s*%\}\s*$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_FOR = re.compile(r"^for\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\s+(\S+)$")


class TemplateError(MuxiError):
    code = "template_error"


def _quote(value: Any) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _doc(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


FILTERS: dict[str, Callable[[Any], str]] = {"q": _quote, "doc": _doc}


@dataclass
class _Node:
    kind: str  # "text", "if", "for"
    line: int
    text: str = ""
    expr: str = ""
    var: str = ""
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _parse(source: str, name: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    for number, raw in enumerate(source.splitlines(keepends=True), start=1):
        match = _BLOCK.match(raw.rstrip("\r\n"))
        if not match:
            if "{%" in raw or "%}" in raw:
                raise TemplateError(
                    f"{name}:{number}: block tags must stand alone on their line",
                    hint="Put {% if %}, {% else %}, {% endif %}, {% for %} and {% endfor %} on their own lines.",
                )
            stack[-1][1].append(_Node("text", number, text=raw))
            continue
        tag = match.group(1)
        head = tag.split(None, 1)[0] if tag else ""
        current = stack[-1][0]
        if head == "if":
            node = _Node("if", number, expr=tag[2:].strip())
            stack[-1][1].append(node)
            stack.append((node, node.body))
        elif head == "for":
            loop = _FOR.match(tag)
            if not loop:
                raise TemplateError(f"{name}:{number}: expected '{{% for item in items %}}'")
            node = _Node("for", number, var=loop.group(1), expr=loop.group(2))
            stack[-1][1].append(node)
            stack.append((node, node.body))
        elif tag == "else":
            if current is None or current.kind != "if" or stack[-1][1] is current.orelse:
                raise TemplateError(f"{name}:{number}: '{{% else %}}' without an open '{{% if %}}'")
            stack[-1] = (current, current.orelse)
        elif tag in ("endif", "endfor"):
            wanted = "if" if tag == "endif" else "for"
            if current is None or current.kind != wanted:
                raise TemplateError(f"{name}:{number}: '{{% {tag} %}}' does not close a '{wanted}'")
            stack.pop()
        else:
            raise TemplateError(f"{name}:{number}: unknown block tag {tag!r}")
    if len(stack) > 1:
        open_node = stack[-1][0]
        assert open_node is not None
        raise TemplateError(f"{name}:{open_node.line}: '{{% {open_node.kind} %}}' is never closed")
    return root


def _lookup(path: str, scope: Sequence[Mapping[str, Any]], where: str) -> Any:
    if not _PATH.match(path):
        raise TemplateError(f"{where}: invalid expression {path!r}")
    first, *rest = path.split(".")
    for frame in reversed(scope):
        if first in frame:
            value = frame[first]
            break
    else:
        raise TemplateError(f"{where}: unknown name {first!r}")
    for part in rest:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise TemplateError(f"{where}: {path!r} has no field {part!r}")
    return value


def _truthy(expr: str, scope: Sequence[Mapping[str, Any]], where: str) -> bool:
    if not expr:
        raise TemplateError(f"{where}: empty condition")
    for alternative in re.split(r"\s+or\s+", expr):
        ok = True
        for term in re.split(r"\s+and\s+", alternative):
            term = term.strip()
            negate = term.startswith("not ")
            value = bool(_lookup(term[4:].strip() if negate else term, scope, where))
            if value == negate:
                ok = False
                break
        if ok:
            return True
    return False


def _substitute(text: str, scope: Sequence[Mapping[str, Any]], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        expr, *filters = [part.strip() for part in match.group(1).split("|")]
        value = _lookup(expr, scope, where)
        if not filters:
            if isinstance(value, Mapping | list | tuple | set) or value is None:
                raise TemplateError(f"{where}: {expr!r} is not a plain value")
            return str(value)
        out: Any = value
        for name in filters:
            if name not in FILTERS:
                raise TemplateError(f"{where}: unknown filter {name!r}")
            out = FILTERS[name](out)
        return str(out)

    pieces: list[str] = []
    last = 0
    for match in _VAR.finditer(text):
        leftover = text[last : match.start()]
        if "{{" in leftover or "}}" in leftover:
            raise TemplateError(f"{where}: unbalanced '{{{{' or '}}}}'")
        pieces.append(leftover)
        pieces.append(replace(match))
        last = match.end()
    tail = text[last:]
    if "{{" in tail or "}}" in tail:
        raise TemplateError(f"{where}: unbalanced '{{{{' or '}}}}'")
    pieces.append(tail)
    return "".join(pieces)


def _render(nodes: list[_Node], scope: list[Mapping[str, Any]], name: str, out: list[str]) -> None:
    for node in nodes:
        where = f"{name}:{node.line}"
        if node.kind == "text":
            out.append(_substitute(node.text, scope, where))
        elif node.kind == "if":
            branch = node.body if _truthy(node.expr, scope, where) else node.orelse
            _render(branch, scope, name, out)
        else:
            items = _lookup(node.expr, scope, where)
            if not isinstance(items, list | tuple):
                raise TemplateError(f"{where}: {node.expr!r} is not a list")
            for index, item in enumerate(items):
                frame = {
                    node.var: item,
                    "loop": {"first": index == 0, "last": index == len(items) - 1},
                }
                _render(node.body, [*scope, frame], name, out)


def render(source: str, context: Mapping[str, Any], name: str = "<template>") -> str:
    """Render ``source`` with ``context``; raise :class:`TemplateError` on any problem."""
    nodes = _parse(source, name)
    out: list[str] = []
    _render(nodes, [context], name, out)
    return "".join(out)


def render_path(path: str, context: Mapping[str, Any]) -> str:
    """Render a template file's relative path: a segment ``__pkg__`` becomes the
    package (import) name, a leading ``dot-`` becomes ``.``, ``.tmpl`` is dropped."""
    parts = []
    for part in path.split("/"):
        if part == "__pkg__":
            part = str(context["pkg"])
        elif part.startswith("dot-"):
            part = "." + part[4:]
        parts.append(part)
    result = "/".join(parts)
    return result[: -len(".tmpl")] if result.endswith(".tmpl") else result


LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}")


def leftover_placeholders(text: str) -> list[str]:
    """Template syntax still present in rendered text (should be empty)."""
    return [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for m in LEFTOVER.finditer(text)
    ]


def condition(expr: str, context: Mapping[str, Any], where: str = "<condition>") -> bool:
    """Evaluate an ``{% if %}`` condition against ``context``."""
    return _truthy(expr, [context], where)
