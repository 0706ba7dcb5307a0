"""`validate` against real servers: the demo server (stdio, HTTP), mcp-server-time,
and deliberately broken servers."""

from __future__ import annotations

from muxi_cli.mcpdev.target import parse_target
from muxi_cli.mcpdev.validate import ValidationReport, schema_error, template_error, validate
from tests.mcpdev.support import server_target, time_target


def statuses(report: ValidationReport, check: str) -> dict[str, str]:
    return {c.subject: c.status for c in report.by_id(check)}


def messages(report: ValidationReport, status: str) -> str:
    return "\n".join(
        f"{c.id} {c.subject}: {c.message}" for c in report.checks if c.status == status
    )


async def test_demo_server_over_stdio_passes_with_warnings() -> None:
    report = await validate(server_target("demo_server.py"), slow_ms=1)
    assert report.ok, messages(report, "fail")
    assert report.counts == {"tools": 11, "resources": 1, "resource_templates": 0, "prompts": 1}
    assert report.server["name"] == "demo"
    assert isinstance(report.startup_ms, int) and report.startup_ms > 0
    # slow_ms=1: any real start is "slow"
    assert statuses(report, "start") == {"server": "warn"}
    assert statuses(report, "stdout") == {"server": "pass"}
    assert set(statuses(report, "input-schema").values()) == {"pass"}
    assert statuses(report, "param-descriptions")["tool echo"] == "warn"
    assert statuses(report, "server-info") == {"server": "warn"}  # the demo reports no version
    # No read-only tool: the output check is skipped, not failed.
    assert {c.status for c in report.by_id("output-match")} == {"skip"}
    data = report.to_dict()
    assert set(data) >= {"target", "server", "checks", "summary", "ok", "counts"}
    assert data["summary"]["fail"] == 0 and data["summary"]["warn"] >= 2


async def test_broken_schema_server_fails_the_right_checks() -> None:
    report = await validate(server_target("broken_schema.py"))
    assert not report.ok
    fails = {(c.id, c.subject) for c in report.checks if c.status == "fail"}
    assert fails == {
        ("duplicates", "tool good"),
        ("tool-name", "tool bad name!"),
        ("input-schema", "tool bad_input"),
        ("output-schema", "tool bad_output"),
        ("output-match", "tool mismatch"),
    }
    by_subject = {(c.id, c.subject): c.message for c in report.checks}
    assert "'integr'" in by_subject[("input-schema", "tool bad_input")]
    assert "'many' is not of type 'integer'" in by_subject[("output-match", "tool mismatch")]
    warns = {(c.id, c.subject) for c in report.checks if c.status == "warn"}
    assert ("description", "tool undocumented") in warns
    assert ("description-size", "tool verbose") in warns
    assert ("prompt-arguments", "prompt ask") in warns
    assert report.summary()["fail"] == 5


async def test_stdout_noise_is_a_failure() -> None:
    report = await validate(server_target("broken_stdout.py"))
    assert not report.ok
    [check] = report.by_id("stdout")
    assert check.status == "fail"
    assert "2 non-protocol line(s)" in check.message
    assert "Starting broken-stdout server v0.1" in check.message
    # The server still works: everything else passes or warns.
    assert [c.id for c in report.checks if c.status == "fail"] == ["stdout"]


async def test_third_party_time_server_is_clean() -> None:
    # No warning expected, but start-up time depends on the machine's load, not the server.
    report = await validate(time_target(), slow_ms=60_000)
    assert report.ok, messages(report, "fail")
    assert report.server["name"] == "mcp-time" and report.server["version"]
    assert statuses(report, "output-match") == {
        "tool get_current_time": "pass",
        "tool convert_time": "pass",
    }
    assert report.summary()["warn"] == 0, messages(report, "warn")


async def test_demo_over_http(http_demo: str) -> None:
    report = await validate(parse_target([http_demo]))
    assert report.ok, messages(report, "fail")
    assert report.target["transport"] == "http"
    assert statuses(report, "stdout") == {"server": "skip"}
    assert report.counts["tools"] == 11


async def test_server_that_exits_at_start() -> None:
    report = await validate(server_target("exits_at_start.py"), timeout=20)
    assert not report.ok
    [start] = report.by_id("start")
    assert start.status == "fail"
    assert "missing API token" in report.stderr


def test_schema_and_template_helpers() -> None:
    assert schema_error({"type": "object"}) is None
    assert "not valid under any of the given schemas" in (schema_error({"type": "objekt"}) or "")
    assert schema_error([]) is not None
    assert template_error("a://{x}/{y}") is None
    assert template_error("a://{x") == "'{' without '}'"
    assert template_error("a://x}") == "'}' without '{'"
    assert template_error("a://{{x}}") == "nested '{'"
    assert template_error("a://{ bad }") is not None
