"""Form fields for the inspector: kinds, conversion, arguments, URI templates."""

from __future__ import annotations

import pytest

from muxi_cli.mcpdev.forms import (
    build_arguments,
    fill_template,
    parse_json_arguments,
    prompt_fields,
    template_fields,
    template_variables,
    tool_fields,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "description": "What to say"},
        "times": {"type": "integer", "default": 1},
        "ratio": {"type": "number"},
        "loud": {"type": "boolean"},
        "unit": {"enum": ["c", "f"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["text"],
}


def test_tool_fields_kinds() -> None:
    fields = {f.name: f for f in tool_fields(SCHEMA)}
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {
        "text": "string",
        "times": "integer",
        "ratio": "number",
        "loud": "boolean",
        "unit": "enum",
        "tags": "json",
        "maybe": "integer",
    }
    assert fields["text"].required and not fields["times"].required
    assert fields["text"].description == "What to say"
    assert fields["times"].initial_text() == "1"
    assert "default 1" in fields["times"].label and "required" in fields["text"].label
    assert fields["unit"].options == ["c", "f"]


def test_build_arguments_converts_and_skips_empty() -> None:
    fields = tool_fields(SCHEMA)
    values = {
        "text": "hi",
        "times": " 3 ",
        "ratio": "0.5",
        "loud": True,
        "unit": None,
        "tags": '["a", "b"]',
        "maybe": "",
    }
    assert build_arguments(fields, values) == {
        "text": "hi",
        "times": 3,
        "ratio": 0.5,
        "loud": True,
        "tags": ["a", "b"],
    }


def test_build_arguments_reports_every_bad_input() -> None:
    fields = tool_fields(SCHEMA)
    with pytest.raises(ValueError) as err:
        build_arguments(fields, {"times": "three", "ratio": "x", "tags": "[1,"})
    message = str(err.value)
    assert "times: 'three' is not a whole number" in message
    assert "ratio: 'x' is not a number" in message
    assert "tags: not valid JSON" in message


def test_numbers_keep_integers_integral() -> None:
    fields = [f for f in tool_fields(SCHEMA) if f.name == "ratio"]
    assert build_arguments(fields, {"ratio": "2"}) == {"ratio": 2}
    assert build_arguments(fields, {"ratio": "2.0"}) == {"ratio": 2.0}


def test_prompt_and_template_fields() -> None:
    prompt = {
        "name": "p",
        "arguments": [{"name": "who", "required": True, "description": "a name"}, {"name": "tone"}],
    }
    fields = prompt_fields(prompt)
    assert [(f.name, f.required, f.kind) for f in fields] == [
        ("who", True, "string"),
        ("tone", False, "string"),
    ]
    assert template_variables("notes://{user}/{id}{?lang,page}") == ["user", "id", "lang", "page"]
    assert [f.name for f in template_fields("a://{x}/{y*}")] == ["x", "y"]


def test_fill_template() -> None:
    assert fill_template("greet://{name}", {"name": "Ada Lovelace"}) == "greet://Ada%20Lovelace"
    assert fill_template("files://{+path}", {"path": "a/b.txt"}) == "files://a/b.txt"
    assert fill_template("s://x{?q,n}", {"q": "cats", "n": "2"}) == "s://x?q=cats&n=2"
    assert fill_template("s://{missing}", {}) == "s://example"


def test_parse_json_arguments() -> None:
    assert parse_json_arguments("") == {}
    assert parse_json_arguments('{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError, match="JSON object"):
        parse_json_arguments("[1]")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json_arguments("{")
