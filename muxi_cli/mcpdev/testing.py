"""``muxi mcp test``: exercise every tool, resource and prompt of a server.

Per tool: one call with valid arguments generated from its input schema, and
up to two calls with invalid ones (a required property left out, a property
of the wrong type). Per resource: one read; per resource template: one read
with generated parameters; per prompt: one render with generated arguments.
Author-written cases (``--cases FILE``) run after that.

Every item gets a ``status`` (what the server did: ok, error, rejected,
bad_output, crash, timeout, unavailable, skipped) and a ``verdict``:

* ``fail``: a crash, a hang (timeout), structured content that breaks the
  output schema, an unreadable listed resource, a case whose expectation is
  not met. The run exits 1.
* ``warn``: odd but not broken: valid generated arguments refused (the
  generator cannot know every rule), invalid arguments accepted.
* ``pass``: everything else.

A crashed stdio server is restarted for the next item; a hung one is
restarted after the timeout. Tools annotated ``destructiveHint: true`` (and
not read-only) are skipped unless asked for.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.errors import UsageError

if TYPE_CHECKING:
    from muxi_cli.mcpdev.session import DevSession, Outcome
    from muxi_cli.mcpdev.target import Target

Verdict = Literal["pass", "warn", "fail", "skip"]
Kind = Literal["tool", "resource", "template", "prompt", "case"]


@dataclass(slots=True)
class Item:
    kind: Kind
    name: str
    variant: str
    status: str
    verdict: Verdict
    duration_ms: float = 0.0
    arguments: Any = None
    message: str = ""
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "variant": self.variant,
            "status": self.status,
            "verdict": self.verdict,
            "duration_ms": round(self.duration_ms, 1),
            "arguments": self.arguments,
            "message": self.message,
            "output": self.output,
        }


@dataclass(slots=True)
class TestReport:
    __test__ = False  # not a pytest class

    target: dict[str, Any]
    items: list[Item] = field(default_factory=list)
    server: dict[str, Any] = field(default_factory=dict)
    startup_ms: int | None = None
    error: str = ""
    stderr: str = ""
    restarts: int = 0
    stdout_noise: list[str] = field(default_factory=list)
    duration_ms: int = 0

    def summary(self) -> dict[str, int]:
        out = {"pass": 0, "warn": 0, "fail": 0, "skip": 0}
        for item in self.items:
            out[item.verdict] += 1
        if self.error:
            out["fail"] += 1
        return out

    @property
    def ok(self) -> bool:
        return not self.error and all(i.verdict != "fail" for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "server": self.server,
            "startup_ms": self.startup_ms,
            "error": self.error or None,
            "items": [i.to_dict() for i in self.items],
            "summary": self.summary(),
            "restarts": self.restarts,
            "stdout_noise": self.stdout_noise,
            "ok": self.ok,
            "duration_ms": self.duration_ms,
        }


# -- cases ----------------------------------------------------------------------


@dataclass(slots=True)
class Case:
    tool: str
    arguments: dict[str, Any]
    contains: str | None = None
    json: Any = None
    error: bool | None = None
    name: str = ""


def load_cases(path: Path) -> list[Case]:
    """Cases from a YAML or JSON file: a list of ``{tool, arguments, expect}``
    (or a mapping with such a list under ``cases``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror or exc}", "Check the --cases path."
        ) from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise UsageError(
            f"{path} is not valid YAML/JSON: {exc}", "Fix the file's syntax."
        ) from None
    if isinstance(data, dict) and "cases" in data:
        data = data["cases"]
    if not isinstance(data, list):
        raise UsageError(
            f"{path}: expected a list of cases",
            "Each case is {tool: NAME, arguments: {...}, expect: {contains: TEXT, json: {...}, error: false}}.",
        )
    cases: list[Case] = []
    for i, raw in enumerate(data, 1):
        where = f"{path}: case {i}"
        if not isinstance(raw, dict) or not isinstance(raw.get("tool"), str):
            raise UsageError(f"{where} has no 'tool'", "Each case needs tool: TOOL_NAME.")
        unknown = set(raw) - {"tool", "arguments", "expect", "name"}
        if unknown:
            raise UsageError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                "Allowed: tool, arguments, expect, name.",
            )
        args = raw.get("arguments") or {}
        if not isinstance(args, dict):
            raise UsageError(
                f"{where}: 'arguments' must be a mapping", "For example: arguments: {text: hi}"
            )
        expect = raw.get("expect") or {}
        if not isinstance(expect, dict) or set(expect) - {"contains", "json", "error"}:
            raise UsageError(
                f"{where}: 'expect' takes contains, json and error",
                "For example: expect: {contains: hello, error: false}",
            )
        cases.append(
            Case(
                tool=raw["tool"],
                arguments=args,
                contains=None if expect.get("contains") is None else str(expect["contains"]),
                json=expect.get("json"),
                error=expect.get("error"),
                name=str(raw.get("name") or f"case {i}"),
            )
        )
    return cases


def json_subset(expected: Any, actual: Any) -> bool:
    """``expected`` is contained in ``actual`` (objects: by key, recursively; lists: element-wise)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and json_subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) <= len(actual)
            and all(json_subset(e, a) for e, a in zip(expected, actual, strict=False))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return bool(expected == actual)


def check_case(case: Case, outcome: Outcome) -> tuple[Verdict, str]:
    """Whether ``outcome`` meets the case's expectations, and why not."""
    if outcome.status in ("crash", "timeout", "unavailable", "bad_output"):
        return "fail", outcome.message.splitlines()[0] if outcome.message else outcome.status
    failed = outcome.status in ("error", "rejected")
    problems: list[str] = []
    want_error = bool(case.error)
    if failed != want_error:
        problems.append(
            f"expected an error, got {outcome.status}"
            if want_error
            else f"expected success, got {outcome.status}: {outcome.message[:200]}"
        )
    text = outcome.message if failed else outcome.text
    if case.contains is not None and case.contains not in text:
        body = json.dumps(outcome.structured) if outcome.structured is not None else ""
        if case.contains not in body:
            problems.append(f"output does not contain {case.contains!r}")
    if case.json is not None:
        actual = outcome.structured
        if actual is None:
            try:
                actual = json.loads(outcome.text)
            except ValueError:
                actual = None
        if not json_subset(case.json, actual):
            problems.append(f"structured result does not contain {json.dumps(case.json)}")
    return ("fail", "; ".join(problems)) if problems else ("pass", "")


# -- the run ----------------------------------------------------------------------


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _squeeze(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _item(
    kind: Kind,
    name: str,
    variant: str,
    outcome: Outcome,
    verdict: Verdict,
    args: Any,
    note: str = "",
) -> Item:
    message = note or (outcome.message if outcome.status != "ok" else "")
    return Item(
        kind=kind,
        name=name,
        variant=variant,
        status=outcome.status,
        verdict=verdict,
        duration_ms=outcome.duration_ms,
        arguments=args,
        message=message,
        output=_squeeze(outcome.text, 200) if outcome.status == "ok" else "",
    )


def _valid_verdict(outcome: Outcome) -> tuple[Verdict, str]:
    if outcome.status == "ok":
        return "pass", ""
    if outcome.status in ("error", "rejected"):
        return "warn", "refused generated arguments: " + _first_line(outcome.message)
    return "fail", outcome.message


def _invalid_verdict(outcome: Outcome) -> tuple[Verdict, str]:
    if outcome.status in ("error", "rejected"):
        return "pass", "rejected: " + _first_line(outcome.message)
    if outcome.status == "ok":
        return "warn", "accepted arguments that break its input schema"
    return "fail", outcome.message


def _skip_reason(tool: dict[str, Any], include_destructive: bool, skip: set[str]) -> str | None:
    name = str(tool.get("name"))
    if name in skip:
        return "skipped (--skip)"
    notes = tool.get("annotations") or {}
    if (
        notes.get("destructiveHint") is True
        and not notes.get("readOnlyHint")
        and not include_destructive
    ):
        return "skipped: annotated destructive (--include-destructive calls it)"
    return None


async def _run_tools(
    session: DevSession,
    report: TestReport,
    tools: list[dict[str, Any]],
    *,
    invalid: bool,
    include_destructive: bool,
    skip: set[str],
) -> None:
    from muxi_cli.mcpdev.examples import arguments_example, invalid_examples

    for tool in tools:
        name = str(tool.get("name"))
        reason = _skip_reason(tool, include_destructive, skip)
        if reason is not None:
            report.items.append(Item("tool", name, "valid", "skipped", "skip", message=reason))
            continue
        schema = tool.get("inputSchema")
        args = arguments_example(schema)
        outcome = await session.call_tool(name, args)
        verdict, note = _valid_verdict(outcome)
        report.items.append(_item("tool", name, "valid", outcome, verdict, args, note))
        if not invalid or outcome.status in ("crash", "timeout"):
            continue
        for label, bad in invalid_examples(schema):
            outcome = await session.call_tool(name, bad)
            verdict, note = _invalid_verdict(outcome)
            report.items.append(_item("tool", name, label, outcome, verdict, bad, note))
            if outcome.status in ("crash", "timeout"):
                break


async def _run_resources(
    session: DevSession,
    report: TestReport,
    resources: list[dict[str, Any]],
    templates: list[dict[str, Any]],
) -> None:
    from muxi_cli.mcpdev.forms import fill_template

    for res in resources:
        uri = str(res.get("uri"))
        outcome = await session.read_resource(uri)
        verdict: Verdict = "pass" if outcome.status == "ok" else "fail"
        note = (
            ""
            if verdict == "pass"
            else f"a listed resource cannot be read: {_first_line(outcome.message)}"
        )
        report.items.append(_item("resource", uri, "read", outcome, verdict, None, note))
    for tpl in templates:
        template = str(tpl.get("uriTemplate"))
        uri = fill_template(template, {})
        outcome = await session.read_resource(uri)
        verdict, note = _valid_verdict(outcome)
        report.items.append(
            _item("template", template, f"read {uri}", outcome, verdict, None, note)
        )


async def _run_prompts(
    session: DevSession, report: TestReport, prompts: list[dict[str, Any]]
) -> None:
    for prompt in prompts:
        name = str(prompt.get("name"))
        args = {
            str(a.get("name")): "example"
            for a in prompt.get("arguments") or []
            if a.get("required")
        }
        outcome = await session.get_prompt(name, args)
        verdict, note = _valid_verdict(outcome)
        report.items.append(_item("prompt", name, "render", outcome, verdict, args, note))


async def _run_cases(session: DevSession, report: TestReport, cases: list[Case]) -> None:
    for case in cases:
        outcome = await session.call_tool(case.tool, case.arguments)
        verdict, note = check_case(case, outcome)
        item = _item("case", case.tool, case.name, outcome, verdict, case.arguments, note)
        if verdict == "pass" and outcome.status != "ok":
            item.message = "error as expected: " + _first_line(outcome.message)
        report.items.append(item)


async def run_tests(
    target: Target,
    *,
    timeout: float = 10.0,
    start_timeout: float | None = None,
    cases: list[Case] | None = None,
    generated: bool = True,
    invalid: bool = True,
    include_destructive: bool = False,
    skip: set[str] | None = None,
) -> TestReport:
    """Connect to ``target`` and run everything. Server faults go in the report, never raise."""
    from muxi_cli.mcpdev.session import ConnectError, DevSession

    began = time.perf_counter()
    report = TestReport(target=target.to_dict())
    session = DevSession(target, timeout=timeout, start_timeout=start_timeout)
    try:
        try:
            await session.connect()
        except ConnectError as exc:
            report.error = exc.message
            report.stderr = exc.stderr
            return report
        report.server = session.server.to_dict()
        report.startup_ms = session.startup_ms
        inv = await session.inventory()
        for kind, message in inv.errors.items():
            report.items.append(
                Item(
                    "tool" if kind == "tools" else "resource",
                    kind,
                    "list",
                    "error",
                    "fail",
                    message=message,
                )
            )
        if generated:
            await _run_tools(
                session,
                report,
                inv.tools,
                invalid=invalid,
                include_destructive=include_destructive,
                skip=skip or set(),
            )
            await _run_resources(session, report, inv.resources, inv.templates)
            await _run_prompts(session, report, inv.prompts)
        await _run_cases(session, report, cases or [])
        report.stdout_noise = session.stdout_noise()
        report.restarts = session.restarts
        return report
    finally:
        await session.aclose()
        report.duration_ms = round((time.perf_counter() - began) * 1000)
