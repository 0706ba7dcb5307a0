from __future__ import annotations

import re

from muxi_cli.tools.naming import MAX_NAME, NameRegistry, namespaced, sanitise

VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_sanitise_replaces_characters_providers_reject() -> None:
    assert sanitise("get.weather/now") == "get_weather_now"
    assert sanitise("...") == "tool"


def test_namespaced_names_are_valid_and_short() -> None:
    name = namespaced("my server", "a" * 200)
    assert VALID.match(name)
    assert len(name) == MAX_NAME
    assert namespaced("time", "get_current_time") == "time__get_current_time"


def test_long_names_that_share_a_prefix_stay_distinct() -> None:
    a = namespaced("srv", "x" * 100 + "a")
    b = namespaced("srv", "x" * 100 + "b")
    assert a != b


def test_registry_makes_names_unique_and_stable() -> None:
    reg = NameRegistry()
    first = reg.assign("mcp", "a", "echo", "echo")
    second = reg.assign("mcp", "b", "echo", "echo")
    assert first == "echo"
    assert second == "echo_2"
    assert reg.assign("mcp", "a", "echo", "something else") == "echo"
    assert reg.lookup("echo_2") == ("mcp", "b", "echo")
    assert reg.lookup("nope") is None


def test_registry_keys_on_the_kind_too() -> None:
    """An MCP server named ``builtin`` does not take over the built-in's name."""
    reg = NameRegistry()
    assert reg.assign("builtin", "builtin", "calculator", "calculator") == "calculator"
    assert reg.assign("mcp", "builtin", "calculator", "calculator") == "calculator_2"
    assert reg.assign("builtin", "builtin", "calculator", "calculator") == "calculator"


def test_registry_unique_names_respect_the_length_limit() -> None:
    reg = NameRegistry()
    names = {reg.assign("mcp", str(i), "t", "y" * 80) for i in range(12)}
    assert len(names) == 12
    assert all(VALID.match(n) for n in names)
