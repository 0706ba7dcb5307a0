"""`run_tests`: generated calls, crashes and hangs, resources, prompts and --cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from muxi_cli.errors import UsageError
from muxi_cli.mcpdev.cases import Case, check_case, json_subset, load_cases
from muxi_cli.mcpdev.session import Outcome
from muxi_cli.mcpdev.testing import TestReport, run_tests
from tests.mcpdev.support import server_target, time_target


def find(report: TestReport, kind: str, name: str, variant: str = "valid") -> dict[str, object]:
    for item in report.items:
        if (item.kind, item.name, item.variant) == (kind, name, variant):
            return item.to_dict()
    raise AssertionError(f"no {kind} {name} {variant} in {[i.to_dict() for i in report.items]}")


async def test_crash_and_hang_are_reported_and_the_run_goes_on() -> None:
    report = await run_tests(server_target("broken_calls.py"), timeout=1.5)
    assert not report.ok
    ok = find(report, "tool", "ok")
    assert (ok["status"], ok["verdict"]) == ("ok", "pass")
    assert find(report, "tool", "ok", "missing required 'text'")["verdict"] == "pass"
    explode = find(report, "tool", "explode")
    # An error result to valid arguments is a failure, not a pass (issue 23).
    assert (explode["status"], explode["verdict"]) == ("error", "fail")
    assert "the tool returned an error result" in str(explode["message"])
    crash = find(report, "tool", "crash")
    assert (crash["status"], crash["verdict"]) == ("crash", "fail")
    assert "broken_calls: crashing on purpose" in str(crash["message"])
    hang = find(report, "tool", "hang")
    assert (hang["status"], hang["verdict"]) == ("timeout", "fail")
    assert "1.5s" in str(hang["message"])
    # After the crash and the hang the server was restarted and answered again.
    fine = find(report, "resource", "broken://fine", "read")
    assert (fine["status"], fine["verdict"]) == ("ok", "pass")
    failing = find(report, "resource", "broken://failing", "read")
    assert failing["verdict"] == "fail" and "cannot be read" in str(failing["message"])
    assert report.restarts == 2
    data = report.to_dict()
    assert data["summary"] == {"pass": 6, "warn": 0, "fail": 4, "skip": 0}
    json.dumps(data)  # the JSON report is serialisable as is


async def test_cases_against_the_demo_server(tmp_path: Path) -> None:
    cases_file = tmp_path / "cases.yaml"
    cases_file.write_text(
        """
- tool: echo
  arguments: {text: hello}
  expect: {contains: hello}
- tool: add
  arguments: {a: 2, b: 3}
  expect: {json: {sum: 5}}
- tool: fail
  arguments: {message: boom}
  expect: {error: true, contains: boom}
- name: wrong expectation
  tool: add
  arguments: {a: 1, b: 1}
  expect: {json: {sum: 3}}
- tool: echo
  arguments: {}
  expect: {error: false}
""",
        encoding="utf-8",
    )
    cases = load_cases(cases_file)
    report = await run_tests(server_target("demo_server.py"), cases=cases, generated=False)
    verdicts = [(i.variant, i.verdict) for i in report.items]
    assert verdicts == [
        ("case 1", "pass"),
        ("case 2", "pass"),
        ("case 3", "pass"),
        ("wrong expectation", "fail"),
        ("case 5", "fail"),
    ]
    assert "does not contain" in report.items[3].message
    assert "expected success" in report.items[4].message
    assert not report.ok


async def test_generated_run_on_the_third_party_server_passes() -> None:
    report = await run_tests(time_target())
    assert report.ok, [i.to_dict() for i in report.items if i.verdict == "fail"]
    current = find(report, "tool", "get_current_time")
    assert current["status"] == "ok" and current["arguments"] == {"timezone": "America/New_York"}
    assert find(report, "tool", "convert_time")["status"] == "ok"
    invalid = [i for i in report.items if i.variant.startswith(("missing", "wrong"))]
    assert invalid and all(
        i.status in ("error", "rejected") and i.verdict == "pass" for i in invalid
    )


async def test_skip_and_destructive(tmp_path: Path) -> None:
    report = await run_tests(
        server_target("demo_server.py"),
        skip={"crash", "sleep", "echo", "add", "fail", "pixel", "stats", "env", "header"},
        invalid=False,
    )
    skipped = {i.name for i in report.items if i.verdict == "skip"}
    assert "crash" in skipped and "sleep" in skipped
    assert find(report, "tool", "cwd")["status"] == "ok"
    assert find(report, "prompt", "greet", "render")["status"] == "ok"
    assert report.ok


async def test_an_error_result_fails_the_run() -> None:
    """Regression (issue 23): a tool that answers with ``isError`` (here the demo's
    ``fail``, as a server whose elicitation was refused does) used to be a warning,
    so the run printed "0 failed" and exited 0."""
    report = await run_tests(
        server_target("demo_server.py"), invalid=False, skip={"crash", "sleep"}
    )
    fail = find(report, "tool", "fail")
    assert (fail["status"], fail["verdict"]) == ("error", "fail")
    assert "the tool returned an error result: Error executing tool fail" in str(fail["message"])
    assert not report.ok and report.summary()["fail"] == 1


def test_a_refusal_of_generated_arguments_stays_a_warning() -> None:
    from muxi_cli.mcpdev.testing import _valid_verdict

    refusals = [
        "Error executing tool add: 1 validation error for addArguments",
        "MCP error -32602: Invalid arguments for tool pick",
        "Input validation error: 'code' is a required property",
    ]
    for text in refusals:
        assert _valid_verdict(Outcome("error", 1.0, message=text))[0] == "warn", text
    assert _valid_verdict(Outcome("rejected", 1.0, message="Unknown tool"))[0] == "warn"
    for text in ("Elicitation not supported", "Error executing tool x: disk full"):
        verdict, note = _valid_verdict(Outcome("error", 1.0, message=text))
        assert verdict == "fail" and text in note


def test_load_cases_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"cases": [{"arguments": {}}]}')
    with pytest.raises(UsageError, match="has no 'tool'"):
        load_cases(bad)
    bad.write_text('[{"tool": "x", "expect": {"equals": 1}}]')
    with pytest.raises(UsageError, match="'expect' takes"):
        load_cases(bad)
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="not valid YAML/JSON"):
        load_cases(bad)
    with pytest.raises(UsageError, match="cannot read"):
        load_cases(tmp_path / "missing.yaml")
    good = tmp_path / "good.json"
    good.write_text(
        '{"cases": [{"tool": "echo", "arguments": {"text": "x"}, "expect": {"contains": "x"}}]}'
    )
    assert load_cases(good)[0].contains == "x"


def test_json_subset_and_check_case() -> None:
    assert json_subset({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3})
    assert not json_subset({"a": 1}, {"a": 2})
    assert json_subset([1, {"x": 1}], [1, {"x": 1, "y": 2}, 3])
    assert not json_subset({"a": True}, {"a": 1})
    ok = Outcome("ok", 1.0, text='{"n": 4}')
    assert check_case(Case("t", {}, json={"n": 4}), ok) == ("pass", "")
    crashed = Outcome("crash", 1.0, message="the server stopped")
    assert check_case(Case("t", {}, error=True), crashed)[0] == "fail"


async def test_generated_run_and_docs_over_http(http_demo: str) -> None:
    from muxi_cli.mcpdev.docs import generate
    from muxi_cli.mcpdev.target import parse_target

    target = parse_target([http_demo])
    # `crash` would take the shared HTTP server down, `sleep` only costs time.
    # `fail` fails by design (an error result is a failure).
    report = await run_tests(target, skip={"crash", "sleep", "fail"})
    assert report.ok, [i.to_dict() for i in report.items if i.verdict == "fail"]
    assert find(report, "tool", "add")["status"] == "ok"
    assert find(report, "tool", "add", "wrong type for 'a'")["verdict"] == "pass"
    assert find(report, "resource", "demo://readme", "read")["status"] == "ok"
    assert report.stdout_noise == []
    text = await generate(target)
    assert "### `add`" in text and "| `a` | number | yes |" in text
