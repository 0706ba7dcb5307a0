"""${VAR} expansion rules."""

from __future__ import annotations

import pytest

from muxi_cli.config.expand import ExpansionError, expand, expand_string, format_path

ENV = {"A": "alpha", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "alpha"),
        ("x-${A}-y", "x-alpha-y"),
        ("${B:-beta}", "beta"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${B:-}", ""),
        ("$$", "$"),
        ("$${A}", "${A}"),
        ("$$$${A}", "$${A}"),
        ("price $5", "price $5"),
        ("$A stays", "$A stays"),
        ("${A}${A}", "alphaalpha"),
        ("${B:-a:b}", "a:b"),
    ],
)
def test_expand_string(text: str, expected: str) -> None:
    assert expand_string(text, ENV) == expected


def test_unset_variable_reports_path_and_name() -> None:
    with pytest.raises(ExpansionError) as info:
        expand({"a": [{"b": "${NOPE}"}]}, ENV)
    assert info.value.path == ("a", 0, "b")
    assert info.value.variable == "NOPE"


def test_only_values_are_expanded() -> None:
    assert expand({"${A}": "${A}", "n": 3, "l": [None, True]}, ENV) == {
        "${A}": "alpha",
        "n": 3,
        "l": [None, True],
    }


def test_format_path() -> None:
    assert format_path(("agents", 1, "modle")) == "agents[1].modle"
    assert format_path(("approval", "tools", "time/*")) == "approval.tools['time/*']"
