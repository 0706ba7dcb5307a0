"""Arguments generated from JSON Schemas: valid examples and invalid ones."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muxi_cli.mcpdev.examples import (
    arguments_example,
    example,
    invalid_examples,
    is_valid,
    type_label,
)

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 5, "maximum": 9},
            "x": {"type": "number", "exclusiveMinimum": 10},
            "step": {"type": "integer", "multipleOf": 4, "minimum": 3},
        },
        "required": ["n", "x", "step"],
    },
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 12, "maxLength": 20},
            "code": {"type": "string", "pattern": "^[0-9]+$"},
            "when": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
        },
        "required": ["name", "code", "when", "mail"],
    },
    {
        "type": "object",
        "properties": {
            "unit": {"enum": ["c", "f"]},
            "mode": {"const": "fast"},
            "flag": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "opt": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
        },
        "required": ["unit", "mode", "flag", "tags", "opt"],
    },
    {
        "$defs": {
            "Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
        },
        "type": "object",
        "properties": {
            "p": {"$ref": "#/$defs/Point"},
            "ps": {"type": "array", "items": {"$ref": "#/$defs/Point"}},
        },
        "required": ["p", "ps"],
    },
    {
        "type": "object",
        "properties": {
            "limit": {"type": "integer", "default": 20},
            "q": {"type": "string", "examples": ["cats"]},
        },
        "required": ["limit", "q"],
    },
    {"type": "object", "properties": {}},
    {
        "type": "object",
        "allOf": [
            {"properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ],
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_generated_arguments_are_valid(schema: dict[str, Any]) -> None:
    args = arguments_example(schema)
    assert is_valid(args, schema) is True, args


def test_hints_from_the_schema_are_used() -> None:
    args = arguments_example(SCHEMAS[5])
    assert args == {"limit": 20, "q": "cats"}
    tz = {
        "type": "string",
        "description": "IANA timezone name (e.g., 'America/New_York', 'Europe/London')",
    }
    assert example(tz) == "America/New_York"
    clock = {"type": "string", "description": "Time to convert in 24-hour format (HH:MM)"}
    assert example(clock) == "12:00"


def test_only_required_properties_unless_full() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a"],
    }
    assert arguments_example(schema) == {"a": "example"}
    assert arguments_example(schema, full=True) == {"a": "example", "b": 1}


@pytest.mark.parametrize("schema", [s for s in SCHEMAS if s.get("required")])
def test_invalid_examples_break_the_schema(schema: dict[str, Any]) -> None:
    bad = invalid_examples(schema)
    assert bad, "a schema with required properties gets invalid examples"
    for label, args in bad:
        assert is_valid(args, schema) is False, (label, args)
    labels = [label for label, _ in bad]
    assert any(label.startswith("missing required") for label in labels)


def test_no_invalid_examples_without_properties() -> None:
    assert invalid_examples({"type": "object", "properties": {}}) == []
    assert invalid_examples("nonsense") == []


def test_odd_schemas_never_raise() -> None:
    schema: Any
    for schema in (
        None,
        5,
        [],
        {"$ref": "#/nowhere"},
        {"$ref": "http://x/y"},
        {"type": ["null"]},
        {"items": True},
    ):
        example(schema)
        arguments_example(schema)
        invalid_examples(schema)
    loop = {
        "$defs": {"A": {"$ref": "#/$defs/A"}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "required": ["a"],
    }
    arguments_example(loop)
    deep: dict[str, Any] = {"type": "object", "properties": {}, "required": ["x"]}
    deep["properties"]["x"] = deep
    arguments_example(deep)


def test_type_labels() -> None:
    assert type_label({"type": "string"}) == "string"
    assert type_label({"type": ["integer", "null"]}) == "integer | null"
    assert type_label({"type": "array", "items": {"type": "string"}}) == "array of string"
    assert type_label({"enum": [1, 2]}) == "enum"
    assert type_label({}) == "any"


_leaf = st.sampled_from(
    [
        {"type": "string"},
        {"type": "string", "minLength": 3, "maxLength": 5},
        {"type": "integer", "minimum": -3, "maximum": 3},
        {"type": "number", "exclusiveMaximum": 0},
        {"type": "boolean"},
        {"enum": ["a", "b", 3]},
        {"type": "string", "format": "uuid"},
        {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), _leaf, min_size=1, max_size=6),
    st.data(),
)
def test_any_combination_of_simple_properties_is_satisfied(
    props: dict[str, Any], data: st.DataObject
) -> None:
    required = data.draw(st.lists(st.sampled_from(sorted(props)), unique=True))
    schema = {"type": "object", "properties": props, "required": required}
    assert is_valid(arguments_example(schema), schema) is True
    assert is_valid(arguments_example(schema, full=True), schema) is True
    for _, args in invalid_examples(schema):
        assert is_valid(args, schema) is False
