"""Author-written regression cases for ``muxi mcp test --cases FILE``.

A cases file is YAML or JSON: a list (or a mapping with a ``cases:`` list) of
``{tool, arguments, expect: {contains, json, error}, name}``. ``contains`` is a
substring of the result text (or of the structured result as JSON), ``json``
a subset of the structured result (or of the text parsed as JSON), ``error``
whether the call must fail (default: it must succeed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from muxi_cli.errors import UsageError

if TYPE_CHECKING:
    from muxi_cli.mcpdev.session import Outcome

Verdict = Literal["pass", "warn", "fail", "skip"]


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
            import yaml  # deferred: PyYAML is slow to import

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
