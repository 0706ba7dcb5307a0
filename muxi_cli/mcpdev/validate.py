"""``muxi mcp validate``: the checks, run against a live server.

Each check gives ``pass``, ``warn``, ``fail`` or ``skip`` for one subject
(the server, a tool, a prompt...). A report fails when any check fails.
What is checked, and why clients care:

========================  ======  ===================================================
check                     worst   what
========================  ======  ===================================================
start                     fail    the server starts and answers; warn when slow
server-info               warn    it reports a name and a version
stdout                    fail    stdio: nothing but JSON-RPC on stdout
listing                   fail    tools/resources/templates/prompts listings work
tool-name                 fail    names present, ``[A-Za-z0-9_.-]``, 1-128 chars
                                  (warn: '.' or > 64 chars, which model APIs refuse)
duplicates                fail    no two tools/prompts/resources share a name or URI
description               warn    tools and prompts say what they do
description-size          warn    descriptions under the size limit (they cost tokens)
input-schema              fail    a valid JSON Schema of type object; required names exist
param-descriptions        warn    every tool parameter is described
output-schema             fail    a declared output schema is a valid object schema
output-match              fail    a read-only tool's structured result matches it
prompt-arguments          warn    prompt arguments are described
resource                  fail    resources have a URI; templates a well-formed URI template
========================  ======  ===================================================
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.mcpdev.examples import arguments_example, is_valid, properties

if TYPE_CHECKING:
    from muxi_cli.mcpdev.session import DevSession, Inventory
    from muxi_cli.mcpdev.target import Target

Verdict = Literal["pass", "warn", "fail", "skip"]

SLOW_START_MS = 2000
MAX_DESCRIPTION = 1000
MAX_OUTPUT_CALLS = 10
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_MODEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

TITLES: dict[str, str] = {
    "start": "Server starts",
    "server-info": "Server name and version",
    "stdout": "Only protocol on stdout",
    "listing": "Listings work",
    "tool-name": "Tool names valid",
    "duplicates": "No duplicate names",
    "description": "Descriptions present",
    "description-size": "Descriptions not oversized",
    "input-schema": "Input schemas valid",
    "param-descriptions": "Parameters described",
    "output-schema": "Output schemas valid",
    "output-match": "Results match output schemas",
    "prompt-arguments": "Prompt arguments described",
    "resource": "Resources well-formed",
}


@dataclass(slots=True)
class Check:
    id: str
    status: Verdict
    subject: str
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "status": self.status,
            "subject": self.subject,
            "message": self.message,
        }


@dataclass(slots=True)
class ValidationReport:
    target: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    server: dict[str, Any] = field(default_factory=dict)
    startup_ms: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0
    stderr: str = ""

    def add(self, id: str, status: Verdict, subject: str, message: str = "") -> None:
        self.checks.append(Check(id, status, subject, message))

    def summary(self) -> dict[str, int]:
        counted = Counter(c.status for c in self.checks)
        return {k: counted.get(k, 0) for k in ("pass", "warn", "fail", "skip")}

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def by_id(self, id: str) -> list[Check]:
        return [c for c in self.checks if c.id == id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "server": self.server,
            "startup_ms": self.startup_ms,
            "counts": self.counts,
            "checks": [c.to_dict() for c in self.checks],
            "summary": self.summary(),
            "ok": self.ok,
            "duration_ms": self.duration_ms,
        }


def schema_error(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (None when it is)."""
    from jsonschema import SchemaError  # deferred: jsonschema is slow to import
    from jsonschema.validators import validator_for  # deferred: jsonschema is slow to import

    if not isinstance(schema, dict):
        return f"a schema must be a JSON object, not {type(schema).__name__}"
    try:
        cls = validator_for(schema)
        cls.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"{exc.message}" + (f" (at {where})" if where else "")
    except Exception as exc:  # unknown $schema and the like
        return f"{type(exc).__name__}: {exc}"
    return None


def _object_schema_problems(schema: Any, what: str) -> tuple[Verdict, str] | None:
    error = schema_error(schema)
    if error is not None:
        return "fail", f"{what} is not valid JSON Schema: {error}"
    if schema.get("type") != "object":
        return (
            "fail",
            f"{what} must have type 'object' (MCP requires it), got {schema.get('type')!r}",
        )
    return None


def _check_server(report: ValidationReport, session: DevSession, slow_ms: int) -> None:
    started = session.startup_ms or 0
    if started > slow_ms:
        report.add("start", "warn", "server", f"started in {started} ms (slow: over {slow_ms} ms)")
    else:
        report.add("start", "pass", "server", f"started in {started} ms")
    meta = session.server
    missing = [k for k, v in (("name", meta.name), ("version", meta.version)) if not v]
    if missing:
        report.add(
            "server-info",
            "warn",
            "server",
            f"no {' or '.join(missing)} in the server info (clients show it to users)",
        )
    else:
        report.add("server-info", "pass", "server", f"{meta.name} {meta.version}")


def _check_stdout(report: ValidationReport, session: DevSession) -> None:
    if session.target.transport != "stdio":
        report.add("stdout", "skip", "server", "not a stdio server")
        return
    if not session.guard_stdout:
        report.add("stdout", "skip", "server", "stdout was not captured (--no-stdout-check)")
        return
    noise = session.stdout_noise()
    if not noise:
        report.add("stdout", "pass", "server", "every line was JSON-RPC")
        return
    shown = "; ".join(repr(line) for line in noise[:3])
    more = f" (and {len(noise) - 3} more)" if len(noise) > 3 else ""
    report.add(
        "stdout",
        "fail",
        "server",
        f"{len(noise)} non-protocol line(s) on stdout: {shown}{more}. "
        "stdout is the protocol stream: log to stderr instead",
    )


def _check_listings(report: ValidationReport, inv: Inventory) -> None:
    for kind in ("tools", "resources", "templates", "prompts"):
        if kind in inv.errors:
            report.add("listing", "fail", kind, inv.errors[kind])
        else:
            report.add("listing", "pass", kind, f"{len(getattr(inv, kind))} listed")


def _check_duplicates(report: ValidationReport, inv: Inventory) -> None:
    groups = (
        ("tool", [t.get("name", "") for t in inv.tools]),
        ("prompt", [p.get("name", "") for p in inv.prompts]),
        ("resource", [r.get("uri", "") for r in inv.resources]),
        ("template", [t.get("uriTemplate", "") for t in inv.templates]),
    )
    found = False
    for kind, names in groups:
        for name, count in Counter(names).items():
            if count > 1:
                found = True
                report.add(
                    "duplicates",
                    "fail",
                    f"{kind} {name}",
                    f"{kind} {name!r} is listed {count} times",
                )
    if not found:
        report.add("duplicates", "pass", "server", "all names and URIs are unique")


def _description(report: ValidationReport, subject: str, text: str | None) -> None:
    text = (text or "").strip()
    if not text:
        report.add(
            "description",
            "warn",
            subject,
            "no description: a model cannot tell when to use it",
        )
    else:
        report.add("description", "pass", subject)
    if len(text) > MAX_DESCRIPTION:
        report.add(
            "description-size",
            "warn",
            subject,
            f"description is {len(text):,} characters (over {MAX_DESCRIPTION:,}); "
            "it is sent to the model with every request",
        )
    elif text:
        report.add("description-size", "pass", subject)


def _check_tool(report: ValidationReport, tool: dict[str, Any]) -> None:
    name = str(tool.get("name") or "")
    subject = f"tool {name or '(unnamed)'}"
    if not name:
        report.add("tool-name", "fail", subject, "the tool has no name")
    elif not _TOOL_NAME.fullmatch(name):
        report.add(
            "tool-name",
            "fail",
            subject,
            f"{name!r} has characters outside A-Z a-z 0-9 _ - . or is over 128 characters",
        )
    elif not _MODEL_NAME.fullmatch(name):
        report.add(
            "tool-name",
            "warn",
            subject,
            f"{name!r} has '.' or is over 64 characters: model APIs accept [A-Za-z0-9_-]{{1,64}}, "
            "so clients must rename it",
        )
    else:
        report.add("tool-name", "pass", subject)
    _description(report, subject, tool.get("description"))
    schema = tool.get("inputSchema")
    problem = _object_schema_problems(schema, "inputSchema") if schema is not None else None
    if schema is None:
        report.add("input-schema", "fail", subject, "no inputSchema")
    elif problem is not None:
        report.add("input-schema", problem[0], subject, problem[1])
    else:
        props = properties(schema)
        unknown = [r for r in schema.get("required") or [] if r not in props]
        if unknown:
            report.add(
                "input-schema",
                "warn",
                subject,
                f"required lists {', '.join(map(repr, unknown))}, not among its properties",
            )
        else:
            report.add("input-schema", "pass", subject)
        bare = [p for p, s in props.items() if not (isinstance(s, dict) and s.get("description"))]
        if bare:
            report.add(
                "param-descriptions",
                "warn",
                subject,
                f"parameter(s) without a description: {', '.join(bare)}",
            )
        elif props:
            report.add("param-descriptions", "pass", subject)
    output = tool.get("outputSchema")
    if output is not None:
        problem = _object_schema_problems(output, "outputSchema")
        if problem is not None:
            report.add("output-schema", problem[0], subject, problem[1])
        else:
            report.add("output-schema", "pass", subject)


def _check_prompt(report: ValidationReport, prompt: dict[str, Any]) -> None:
    subject = f"prompt {prompt.get('name') or '(unnamed)'}"
    _description(report, subject, prompt.get("description"))
    args = prompt.get("arguments") or []
    bare = [str(a.get("name")) for a in args if not a.get("description")]
    if bare:
        report.add(
            "prompt-arguments",
            "warn",
            subject,
            f"argument(s) without a description: {', '.join(bare)}",
        )
    elif args:
        report.add("prompt-arguments", "pass", subject)


def template_error(template: str) -> str | None:
    """Why an RFC 6570 URI template is malformed (None when it looks fine)."""
    depth = 0
    for char in template:
        if char == "{":
            depth += 1
            if depth > 1:
                return "nested '{'"
        elif char == "}":
            depth -= 1
            if depth < 0:
                return "'}' without '{'"
    if depth:
        return "'{' without '}'"
    for expr in re.findall(r"\{([^}]*)\}", template):
        names = expr.lstrip("+#./;?&")
        if not names or not all(
            re.fullmatch(r"[A-Za-z0-9_.%]+\*?(:\d+)?", n) for n in names.split(",")
        ):
            return f"bad expression {{{expr}}}"
    return None


def _check_resources(report: ValidationReport, inv: Inventory) -> None:
    for res in inv.resources:
        uri = str(res.get("uri") or "")
        subject = f"resource {uri or res.get('name') or '(unnamed)'}"
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri):
            report.add("resource", "fail", subject, f"URI {uri!r} has no scheme")
        else:
            report.add("resource", "pass", subject)
        _description(report, subject, res.get("description"))
    for tpl in inv.templates:
        uri = str(tpl.get("uriTemplate") or "")
        subject = f"template {uri or tpl.get('name') or '(unnamed)'}"
        error = template_error(uri) if uri else "no uriTemplate"
        if error is not None:
            report.add("resource", "fail", subject, f"URI template {uri!r}: {error}")
        else:
            report.add("resource", "pass", subject)
        _description(report, subject, tpl.get("description"))


async def _check_outputs(
    report: ValidationReport, session: DevSession, inv: Inventory, call: bool
) -> None:
    """Call read-only tools that declare an output schema; their results must match it."""

    candidates = [
        t
        for t in inv.tools
        if t.get("outputSchema") is not None and schema_error(t.get("outputSchema")) is None
    ]
    if not candidates:
        return
    if not call:
        report.add("output-match", "skip", "server", "tools were not called (--no-call)")
        return
    unsafe = [
        str(t.get("name"))
        for t in candidates
        if not (t.get("annotations") or {}).get("readOnlyHint")
    ]
    if unsafe:
        report.add(
            "output-match",
            "skip",
            f"{len(unsafe)} tool(s)",
            f"not called, as not annotated readOnlyHint: {', '.join(unsafe)} "
            "(`muxi mcp test` calls every tool)",
        )
    done = 0
    for tool in candidates:
        subject = f"tool {tool.get('name')}"
        if str(tool.get("name")) in unsafe:
            continue
        if done >= MAX_OUTPUT_CALLS:
            report.add(
                "output-match",
                "skip",
                subject,
                f"not called: only {MAX_OUTPUT_CALLS} calls are made",
            )
            continue
        done += 1
        args = arguments_example(tool.get("inputSchema"))
        outcome = await session.call_tool(str(tool.get("name")), args)
        if outcome.status == "ok":
            if outcome.structured is None:
                report.add(
                    "output-match",
                    "fail",
                    subject,
                    "declares an output schema but returned no structured content",
                )
            elif is_valid(outcome.structured, tool["outputSchema"]) is False:
                report.add(
                    "output-match",
                    "fail",
                    subject,
                    "structured result does not match the output schema",
                )
            else:
                report.add("output-match", "pass", subject, f"called with {args}")
        elif outcome.status == "bad_output":
            report.add("output-match", "fail", subject, outcome.message.splitlines()[0])
        elif outcome.status in ("crash", "timeout"):
            report.add(
                "output-match",
                "fail",
                subject,
                f"{outcome.status}: {outcome.message.splitlines()[0]}",
            )
        else:
            report.add(
                "output-match",
                "skip",
                subject,
                f"could not check: generated arguments {args} were refused ({outcome.message[:120]})",
            )


async def validate(
    target: Target,
    *,
    timeout: float = 30.0,
    start_timeout: float | None = None,
    slow_ms: int = SLOW_START_MS,
    call: bool = True,
    stdout_check: bool = True,
) -> ValidationReport:
    """Connect to ``target`` and run every check. Never raises for server faults."""
    from muxi_cli.mcpdev.session import ConnectError, DevSession  # deferred: loads asyncio

    began = time.perf_counter()
    report = ValidationReport(target=target.to_dict())
    session = DevSession(
        target, timeout=timeout, start_timeout=start_timeout, guard_stdout=stdout_check
    )
    try:
        try:
            await session.connect()
        except ConnectError as exc:
            report.add("start", "fail", "server", exc.message)
            report.stderr = exc.stderr
            _check_stdout(report, session)
            return report
        report.startup_ms = session.startup_ms
        report.server = session.server.to_dict()
        _check_server(report, session, slow_ms)
        inv = await session.inventory()
        report.counts = {
            "tools": len(inv.tools),
            "resources": len(inv.resources),
            "resource_templates": len(inv.templates),
            "prompts": len(inv.prompts),
        }
        _check_listings(report, inv)
        _check_duplicates(report, inv)
        for tool in inv.tools:
            _check_tool(report, tool)
        for prompt in inv.prompts:
            _check_prompt(report, prompt)
        _check_resources(report, inv)
        await _check_outputs(report, session, inv, call)
        _check_stdout(report, session)  # last: it sees everything printed so far
        return report
    finally:
        await session.aclose()
        report.duration_ms = round((time.perf_counter() - began) * 1000)
