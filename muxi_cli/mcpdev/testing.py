"""``muxi mcp test``: exercise every tool, resource and prompt of a server.

Per tool: one call with valid arguments generated from its input schema, and
up to two calls with invalid ones (a required property left out, a property
of the wrong type). Per resource: one read; per resource template: one read
with generated parameters; per prompt: one render with generated arguments.
Author-written cases (``--cases FILE``) run after that.

Every item gets a ``status`` (what the server did: ok, error, rejected,
bad_output, crash, timeout, unavailable, skipped) and a ``verdict``:

* ``fail``: a crash, a hang (timeout), a tool error result (``isError``) to
  valid generated arguments that is not a refusal of the arguments,
  structured content that breaks the output schema, an unreadable listed
  resource, a case whose expectation is not met. The run exits 1.
* ``warn``: odd but not broken: valid generated arguments refused (a
  JSON-RPC error, or an error result that names an argument validation
  failure: the generator cannot know every rule), invalid arguments accepted.
* ``pass``: everything else.

A crashed stdio server is restarted for the next item; a hung one is
restarted after the timeout. Tools annotated ``destructiveHint: true`` (and
not read-only) are skipped unless asked for.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.mcpdev.cases import Case, check_case, load_cases
from muxi_cli.mcpdev.examples import arguments_example, invalid_examples
from muxi_cli.mcpdev.forms import fill_template

__all__ = ["Case", "Item", "TestReport", "check_case", "load_cases", "run_tests"]

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


# What servers say when they refuse arguments rather than fail at the work:
# pydantic's "N validation error(s) for X" (the Python SDK), JSON Schema
# validators' wording (the TypeScript SDK: "Invalid arguments", "Input
# validation error", "is a required property", "is not of type").
_REFUSAL = re.compile(
    r"validation error|invalid (arguments?|params|parameters?|input)"
    r"|required (property|argument|parameter)|is not of type|must be (a|an|of) ",
    re.IGNORECASE,
)


def _valid_verdict(outcome: Outcome) -> tuple[Verdict, str]:
    if outcome.status == "ok":
        return "pass", ""
    if outcome.status == "rejected" or (
        outcome.status == "error" and _REFUSAL.search(outcome.message)
    ):
        return "warn", "refused generated arguments: " + _first_line(outcome.message)
    if outcome.status == "error":
        # A tool error result is a failure even though the call "worked": an
        # error in the result's text used to be counted as a pass (issue 23).
        return "fail", "the tool returned an error result: " + _first_line(outcome.message)
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
    from muxi_cli.mcpdev.session import ConnectError, DevSession  # deferred: loads asyncio

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
