"""Per-scenario results of a conformance run, and their comparison with the
expectations in scripts/conformance/expected.json.

The suite writes one folder per scenario, ``<scenario>-<timestamp>`` (client
mode; auth scenarios nest under ``auth/``) or ``server-<scenario>-<timestamp>``
(server mode), each with a ``checks.json``: a list of checks whose status is
SUCCESS, FAILURE, WARNING, SKIPPED or INFO. A scenario passes when none of its
checks failed and at least one succeeded (warnings allowed), as the suite's own
summary counts it. Standard library only: scripts/mcp-conformance runs this
with whatever Python it has.

    python3 results.py summarize OUT          # OUT/results.json, table on stdout
    python3 results.py compare OUT EXPECTED   # exit 1 on a regression or a new pass
    python3 results.py accept OUT EXPECTED    # drop the new passes from EXPECTED's failures
    python3 results.py failed OUT MODE EXPECTED  # the MODE scenarios that failed unexpectedly

``accept`` never adds a failure: a regression needs a fix or a reason written by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

_STAMP = re.compile(r"-\d{4}-\d\d-\d\dT[\d-]+Z$")


def collect(root: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"client": {scenario: result}, "server": {...}}`` from the folders under ``root``."""
    results: dict[str, dict[str, dict[str, Any]]] = {"client": {}, "server": {}}
    for mode in ("client", "server"):
        base = root / mode
        if not base.is_dir():  # a run of one mode only
            del results[mode]
            continue
        for checks_file in sorted(base.glob("**/checks.json")):
            name = _STAMP.sub("", checks_file.parent.relative_to(base).as_posix())
            if mode == "server":
                name = name.removeprefix("server-")
            try:
                checks = json.loads(checks_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                checks = []
            counts = {"SUCCESS": 0, "FAILURE": 0, "WARNING": 0}
            failures: list[str] = []
            for check in checks if isinstance(checks, list) else []:
                status = str(check.get("status", ""))
                if status in counts:
                    counts[status] += 1
                if status == "FAILURE":
                    message = str(check.get("errorMessage") or "").splitlines()
                    failures.append(f"{check.get('id')}: {message[0] if message else ''}".strip())
            results[mode][name] = {
                "passed": counts["SUCCESS"],
                "failed": counts["FAILURE"],
                "warnings": counts["WARNING"],
                "ok": counts["FAILURE"] == 0 and counts["SUCCESS"] > 0,
                "failures": failures,
            }
    return results


def compare(results: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Every difference from the expectations, one line each (empty: as expected).

    ``expected`` lists, per mode, the scenarios expected to fail (with the
    reason) under ``"fail"`` and every scenario the suite should run under
    ``"scenarios"``: every other one is expected to pass.
    """
    problems: list[str] = []
    for mode in results:  # the modes that ran
        want = expected.get(mode, {})
        fails: dict[str, str] = want.get("fail", {})
        got = results.get(mode, {})
        for name in want.get("scenarios", []):
            if name not in got:
                problems.append(f"{mode} {name}: no result (the scenario did not run or timed out)")
        for name, result in sorted(got.items()):
            if name not in want.get("scenarios", []):
                problems.append(f"{mode} {name}: a scenario the expectations do not list")
            elif result["ok"] and name in fails:
                problems.append(
                    f"{mode} {name}: NEW PASS (expected to fail: {fails[name]}); "
                    "remove it from the expected failures"
                )
            elif not result["ok"] and name not in fails:
                detail = "; ".join(result["failures"][:3]) or "no check succeeded"
                problems.append(f"{mode} {name}: REGRESSION, it failed: {detail}")
    return problems


def table(results: dict[str, Any], expected: dict[str, Any] | None = None) -> str:
    """A Markdown table per mode: scenario, result, checks, why it fails."""
    lines: list[str] = []
    for mode in results:
        fails = (expected or {}).get(mode, {}).get("fail", {})
        got = results.get(mode, {})
        passed = sum(1 for r in got.values() if r["ok"])
        checks = sum(r["passed"] for r in got.values())
        total = sum(r["passed"] + r["failed"] for r in got.values())
        lines += [
            f"{mode}: {passed} of {len(got)} scenarios pass ({checks} of {total} checks)",
            "",
            "| scenario | result | checks passed/failed | why not a pass |",
            "| --- | --- | --- | --- |",
        ]
        for name, r in sorted(got.items()):
            verdict = "pass" if r["ok"] else "FAIL"
            why = "" if r["ok"] else fails.get(name, "; ".join(r["failures"][:2]))
            lines.append(f"| {name} | {verdict} | {r['passed']}/{r['failed']} | {why} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "summarize":
        root = Path(argv[1])
        results = collect(root)
        (root / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        expected = json.loads(Path(argv[2]).read_text(encoding="utf-8")) if len(argv) > 2 else None
        print(table(results, expected))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        results = json.loads((Path(argv[1]) / "results.json").read_text(encoding="utf-8"))
        expected = json.loads(Path(argv[2]).read_text(encoding="utf-8"))
        problems = compare(results, expected)
        for line in problems:
            print(line)
        print(
            "as expected"
            if not problems
            else f"{len(problems)} difference(s) from the expectations"
        )
        return 1 if problems else 0
    if len(argv) == 4 and argv[0] == "failed":
        got = collect(Path(argv[1])).get(argv[2], {})
        fails = (
            json.loads(Path(argv[3]).read_text(encoding="utf-8")).get(argv[2], {}).get("fail", {})
        )
        for name, result in sorted(got.items()):
            if not result["ok"] and name not in fails:
                print(name)
        return 0
    if len(argv) == 3 and argv[0] == "accept":
        results = json.loads((Path(argv[1]) / "results.json").read_text(encoding="utf-8"))
        path = Path(argv[2])
        expected = json.loads(path.read_text(encoding="utf-8"))
        for mode, got in results.items():
            fails = expected.get(mode, {}).get("fail", {})
            for name in [n for n in fails if got.get(n, {}).get("ok")]:
                print(f"{mode} {name}: passes now, no longer an expected failure")
                del fails[name]
        path.write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
