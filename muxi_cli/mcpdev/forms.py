"""Form fields for a tool's arguments, a prompt's arguments or a URI template.

The inspector screen draws one input per :class:`Field` and hands the typed
text back to :func:`build_arguments`, which converts it to the JSON types the
schema asks for. Everything here is headless so it is tested without a UI.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from muxi_cli.mcpdev.examples import _resolve, flatten, properties, type_label, types_of

FieldKind = Literal["string", "integer", "number", "boolean", "enum", "json"]
_TEMPLATE_VAR = re.compile(r"\{([^}]*)\}")


@dataclass(slots=True)
class Field:
    name: str
    kind: FieldKind
    required: bool = False
    description: str = ""
    type_label: str = "string"
    has_default: bool = False
    default: Any = None
    options: list[Any] = field(default_factory=list)

    @property
    def label(self) -> str:
        flags = [self.type_label, "required" if self.required else "optional"]
        if self.has_default:
            flags.append(f"default {json.dumps(self.default, ensure_ascii=False)}")
        return f"{self.name} ({', '.join(flags)})"

    def initial_text(self) -> str:
        """What the input shows at first (the default, as text)."""
        if not self.has_default or self.default is None:
            return ""
        if self.kind == "json":
            return json.dumps(self.default, indent=2, ensure_ascii=False)
        if self.kind == "string":
            return str(self.default)
        return json.dumps(self.default, ensure_ascii=False)


def _kind(schema: dict[str, Any]) -> FieldKind:
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "enum"
    kinds = [k for k in types_of(schema) if k != "null"]
    if len(kinds) == 1 and kinds[0] in ("string", "integer", "number", "boolean"):
        return kinds[0]  # type: ignore[return-value]
    if not kinds and not any(
        k in schema for k in ("anyOf", "oneOf", "allOf", "properties", "items")
    ):
        return "string"
    return "json"


def tool_fields(input_schema: Any) -> list[Field]:
    """One field per property of a tool's input schema."""
    if not isinstance(input_schema, dict):
        return []
    root = input_schema
    schema = flatten(input_schema, root)
    required = set(schema.get("required") or []) if isinstance(schema, dict) else set()
    fields: list[Field] = []
    for name, prop in properties(schema).items():
        resolved = _resolve(prop, root, 0)
        resolved = resolved if isinstance(resolved, dict) else {}
        kind = _kind(resolved)
        fields.append(
            Field(
                name=str(name),
                kind=kind,
                required=name in required,
                description=str(resolved.get("description") or ""),
                type_label=type_label(resolved, root),
                has_default="default" in resolved,
                default=resolved.get("default"),
                options=list(resolved.get("enum") or []),
            )
        )
    return fields


def prompt_fields(prompt: dict[str, Any]) -> list[Field]:
    """Prompt arguments are strings."""
    return [
        Field(
            name=str(arg.get("name")),
            kind="string",
            required=bool(arg.get("required")),
            description=str(arg.get("description") or ""),
        )
        for arg in prompt.get("arguments") or []
    ]


def template_variables(template: str) -> list[str]:
    """The variable names of an RFC 6570 URI template, in order."""
    names: list[str] = []
    for expr in _TEMPLATE_VAR.findall(template):
        for part in expr.lstrip("+#./;?&").split(","):
            name = part.rstrip("*").split(":")[0]
            if name and name not in names:
                names.append(name)
    return names


def template_fields(template: str) -> list[Field]:
    return [Field(name=n, kind="string", required=True) for n in template_variables(template)]


def fill_template(template: str, params: dict[str, str]) -> str:
    """Expand a URI template (simple, level-1 style; missing values become ``example``)."""

    def sub(match: re.Match[str]) -> str:
        expr = match.group(1)
        operator = expr[0] if expr[:1] in "+#./;?&" else ""
        names = [p.rstrip("*").split(":")[0] for p in expr.lstrip("+#./;?&").split(",")]
        safe = "/:" if operator in ("+", "#") else ""
        values = [quote(str(params.get(n) or "example"), safe=safe) for n in names]
        if operator in ("?", "&"):
            pairs = "&".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
            return operator + pairs
        prefix = {"#": "#", ".": ".", "/": "/", ";": ";"}.get(operator, "")
        return prefix + ",".join(values)

    return _TEMPLATE_VAR.sub(sub, template)


def convert(spec: Field, value: Any) -> Any:
    """One input's value as the JSON type the field wants; ValueError says why not."""
    if spec.kind in ("boolean", "enum"):
        return value  # chosen from a list: already typed
    text = str(value).strip() if spec.kind != "string" else str(value)
    if spec.kind == "string":
        return text
    if spec.kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{spec.name}: {text!r} is not a whole number") from None
    if spec.kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{spec.name}: {text!r} is not a number") from None
        return (
            int(number)
            if number.is_integer() and "." not in text and "e" not in text.lower()
            else number
        )
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{spec.name}: not valid JSON ({exc})") from None


def is_empty(spec: Field, value: Any) -> bool:
    if value is None:
        return True
    return spec.kind not in ("boolean", "enum") and str(value).strip() == ""


def build_arguments(fields: list[Field], values: dict[str, Any]) -> dict[str, Any]:
    """The arguments object from the form's values; empty inputs are left out.

    Required fields left empty are left out too: the server's answer to a
    missing argument is worth seeing. Raises ValueError listing every input
    that could not be converted.
    """
    out: dict[str, Any] = {}
    problems: list[str] = []
    for spec in fields:
        value = values.get(spec.name)
        if is_empty(spec, value):
            continue
        try:
            out[spec.name] = convert(spec, value)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return out


def parse_json_arguments(text: str) -> dict[str, Any]:
    """The raw-JSON editor's text as an arguments object."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("arguments must be a JSON object")
    return value
