"""Run muxi's benchmarks and print one table.

    .venv-dev/bin/python -m benchmarks.run            # everything
    .venv-dev/bin/python -m benchmarks.run startup    # only modules whose name contains "startup"
    .venv-dev/bin/python -m benchmarks.run --quick    # fewer repetitions
    .venv-dev/bin/python -m benchmarks.run memory_quality --set all   # retrieval quality

A name that is a module's whole name (``memory`` for ``bench_memory``) selects that
module only. Each ``benchmarks/bench_*.py`` module defines ``run(quick: bool) ->
list[Result]``; one that also takes ``sets`` gets the ``--set`` choice.

Results are printed as a table and written to ``benchmarks/results/latest.json``;
copy the figures into ``docs/benchmarks.md`` when they change.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
import platform
import sys
import time
from pathlib import Path

from benchmarks.common import Result

HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("only", nargs="*", help="run only modules whose name contains one of these")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--set", default="dev", help="labelled memory set(s) of memory_quality: dev, check or all"
    )
    args = parser.parse_args(argv)

    modules = sorted(
        m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_")
    )
    if args.only:
        modules = [m for m in modules if any(_selects(o, m, modules) for o in args.only)]
    results: list[Result] = []
    for name in modules:
        module = importlib.import_module(f"benchmarks.{name}")
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            if "sets" in inspect.signature(module.run).parameters:
                results.extend(module.run(args.quick, sets=args.set))
            else:
                results.extend(module.run(args.quick))
        except Exception as exc:  # a broken benchmark is reported, the others still run
            results.append(Result(name, "FAILED", "", note=f"{type(exc).__name__}: {exc}"))
        print(f"  {name} took {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)

    _print_table(results)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "machine": platform.platform(),
                "results": [r.__dict__ for r in results],
            },
            indent=2,
        )
    )
    return 1 if any(r.value == "FAILED" for r in results) else 0


def _selects(only: str, module: str, modules: list[str]) -> bool:
    """``only`` names ``module`` exactly, or is part of its name and names no module exactly."""
    if f"bench_{only}" in modules:
        return module == f"bench_{only}"
    return only in module


def _print_table(results: list[Result]) -> None:
    headers = ("benchmark", "value", "unit", "target", "note")
    rows = [(r.name, str(r.value), r.unit, r.target or "", r.note or "") for r in results]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    raise SystemExit(main())
