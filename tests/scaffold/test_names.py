"""Project and tool name validation, and the suggestions it makes."""

from __future__ import annotations

import pytest

from muxi_cli.errors import ExitCode
from muxi_cli.scaffold.names import (
    InvalidNameError,
    class_name,
    suggest_name,
    validate_name,
    validate_tool_name,
)


@pytest.mark.parametrize(
    ("raw", "suggestion", "reason"),
    [
        ("class", "class-server", "keyword"),
        ("123abc", "mcp-123abc", "digit"),
        ("my.server", "my-server", "'.'"),
        ("mcp", "mcp-server", "dependency"),
        ("json", "json-server", "standard library"),
        ("../evil", "evil", "path separator"),
        ("a/b", "b", "path separator"),
        ("..", "mcp-server", "path separator"),
        ("my server", "my-server", "spaces"),
        ("  spaced out  name ", "spaced-out-name", "spaces"),
        ("café", "cafe", "non-ASCII"),
        ("サーバー", "mcp-server", "non-ASCII"),
        ("", "mcp-server", "empty"),
        ("-lead", "lead", "ASCII letters"),
        ("trail_", "trail", "ASCII letters"),
        ("a@b", "a-b", "ASCII letters"),
        ("pydantic", "pydantic-server", "dependency"),
        ("asyncio", "asyncio-server", "standard library"),
        ("tests", "tests-server", "dependency"),
        ("x" * 65, "x" * 64, "longer"),
    ],
)
def test_bad_names_are_rejected_with_a_valid_suggestion(
    raw: str, suggestion: str, reason: str
) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name(raw)
    error = info.value
    assert reason in error.message
    assert error.suggestion == suggestion
    assert error.hint == f"Try --name {suggestion}"
    assert error.exit_code == ExitCode.USAGE
    # The suggestion itself always passes.
    validate_name(error.suggestion)


@pytest.mark.parametrize(
    ("raw", "dist", "package", "title"),
    [
        ("weather", "weather", "weather", "Weather"),
        ("weather-tools", "weather-tools", "weather_tools", "Weather Tools"),
        ("Weather_Tools", "weather-tools", "weather_tools", "Weather Tools"),
        ("my--odd__name", "my-odd-name", "my_odd_name", "My Odd Name"),
        ("a", "a", "a", "A"),
        ("mcp-server", "mcp-server", "mcp_server", "Mcp Server"),
        ("class-server", "class-server", "class_server", "Class Server"),
        ("match", "match", "match", "Match"),  # a soft keyword is a valid module name
    ],
)
def test_good_names_are_normalised(raw: str, dist: str, package: str, title: str) -> None:
    name = validate_name(raw)
    assert (name.dist, name.package, name.title) == (dist, package, title)
    assert name.package.isidentifier()
    assert name.uri_scheme == dist


@pytest.mark.parametrize(
    "raw", ["class", "123abc", "my.server", "../evil", "a b", "ü", "json", "mcp"]
)
def test_suggestions_are_stable_and_valid(raw: str) -> None:
    suggestion = suggest_name(raw)
    assert suggest_name(suggestion) == suggestion
    validate_name(suggestion)


@pytest.mark.parametrize(
    ("raw", "suggestion"),
    [
        ("WordCount", "word_count"),
        ("word count", "word_count"),
        ("1st", "tool_1st"),
        ("class", "class_tool"),
        ("create_server", "create_server_tool"),
        ("server", "server_tool"),
        ("héllo", "hello"),
        ("", "example_tool"),
    ],
)
def test_bad_tool_names(raw: str, suggestion: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_tool_name(raw)
    assert info.value.suggestion == suggestion
    assert info.value.hint == f"Try --tool {suggestion}"
    validate_tool_name(suggestion)


def test_good_tool_names_and_their_result_classes() -> None:
    assert validate_tool_name("forecast") == "forecast"
    assert validate_tool_name(" get_alerts ") == "get_alerts"
    assert class_name("get_alerts") == "GetAlertsResult"
    assert class_name("x2") == "X2Result"
