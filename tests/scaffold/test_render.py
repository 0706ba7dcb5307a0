"""The template engine: substitution, blocks, strictness, no re-rendering of values."""

from __future__ import annotations

import json
import tomllib

import pytest
import yaml

from muxi_cli.scaffold.render import (
    TemplateError,
    condition,
    leftover_placeholders,
    render,
    render_path,
)


def test_substitution_and_filters() -> None:
    out = render("name = {{ name }}\nq = {{ desc | q }}\n", {"name": "x", "desc": 'say "hi"\\'})
    assert out == 'name = x\nq = "say \\"hi\\"\\\\"\n'


def test_quoted_values_are_valid_python_json_toml_and_yaml() -> None:
    nasty = 'a "quoted" \\ back\\slash, tab\t, café, {braces} and $HOME'
    quoted = render("{{ v | q }}", {"v": nasty})
    assert json.loads(quoted) == nasty
    assert eval(quoted) == nasty  # a Python string literal
    assert tomllib.loads(f"k = {quoted}")["k"] == nasty
    assert yaml.safe_load(f"k: {quoted}")["k"] == nasty


def test_doc_filter_keeps_docstrings_closed() -> None:
    out = render('"""{{ v | doc }}"""', {"v": 'ends with """ and \\n'})
    assert eval(out) == 'ends with """ and \\n'


def test_if_else_and_for_blocks_drop_their_lines() -> None:
    source = (
        "start\n"
        "{% if a and not b %}\n"
        "A\n"
        "{% else %}\n"
        "not A\n"
        "{% endif %}\n"
        "{% for item in items %}\n"
        "- {{ item.name }}{{ sep }}\n"
        "{% endfor %}\n"
        "end\n"
    )
    ctx = {"a": True, "b": False, "items": [{"name": "x"}, {"name": "y"}], "sep": ";"}
    assert render(source, ctx) == "start\nA\n- x;\n- y;\nend\n"
    assert render(source, {**ctx, "b": True, "items": []}) == "start\nnot A\nend\n"


def test_conditions() -> None:
    ctx = {"a": True, "b": False, "c": True}
    assert condition("a or b", ctx)
    assert condition("b or a and c", ctx)
    assert not condition("b or a and not c", ctx)
    assert condition("not b", ctx)


def test_nested_blocks() -> None:
    source = "{% for t in ts %}\n{% if t.on %}\n{{ t.n }}\n{% endif %}\n{% endfor %}\n"
    assert render(source, {"ts": [{"n": 1, "on": True}, {"n": 2, "on": False}]}) == "1\n"


def test_values_are_never_rendered_again() -> None:
    assert render("{{ v }}", {"v": "{{ secret }}"}) == "{{ secret }}"


@pytest.mark.parametrize(
    ("source", "ctx", "message"),
    [
        ("{{ missing }}", {}, "unknown name 'missing'"),
        ("{{ a.b }}", {"a": {}}, "has no field 'b'"),
        ("{{ a | shout }}", {"a": 1}, "unknown filter"),
        ("{{ a }}", {"a": [1]}, "not a plain value"),
        ("{{ a() }}", {"a": 1}, "invalid expression"),
        ("x {% if a %} y", {"a": 1}, "must stand alone"),
        ("{% if a %}\n", {"a": 1}, "never closed"),
        ("{% endif %}\n", {}, "does not close"),
        ("{% else %}\n", {}, "without an open"),
        ("{% if a %}\n{% else %}\n{% else %}\n{% endif %}\n", {"a": 1}, "without an open"),
        ("{% while a %}\n", {}, "unknown block tag"),
        ("{% for x of y %}\n", {}, "expected"),
        ("{% for x in a %}\n{% endfor %}\n", {"a": 3}, "not a list"),
        ("{{ a }\n", {"a": 1}, "unbalanced"),
        ("a }} b\n", {}, "unbalanced"),
    ],
)
def test_errors_name_the_problem_and_line(
    source: str, ctx: dict[str, object], message: str
) -> None:
    with pytest.raises(TemplateError) as info:
        render(source, ctx, name="t.tmpl")
    assert message in info.value.message
    assert info.value.message.startswith("t.tmpl:")


def test_paths() -> None:
    ctx = {"pkg": "weather"}
    assert render_path("src/__pkg__/__init__.py.tmpl", ctx) == "src/weather/__init__.py"
    assert render_path("dot-gitignore.tmpl", ctx) == ".gitignore"
    assert render_path("static.txt", ctx) == "static.txt"


def test_leftover_detection() -> None:
    assert leftover_placeholders("ok\nstill {{ x }}\n") == ["line 2: {{", "line 2: }}"]
    assert leftover_placeholders("fine { braces }\n") == []
