"""`muxi create mcp-server`: time to generate a project, and time from generating
one to its own test suite passing in a brand-new virtual environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

from benchmarks.common import ROOT, Result, median_ms

_TOOLS = ["forecast", "get_alerts"]


def _options(target: Path):  # type: ignore[no-untyped-def]
    from muxi_cli.scaffold.options import build_options

    return build_options(
        name="bench-server",
        description=None,
        tools=_TOOLS,
        resources=True,
        prompts=True,
        transport="both",
        author="Bench <bench@example.org>",
        dockerfile=True,
        register=False,
        output_dir=target,
    )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}


def run(quick: bool) -> list[Result]:
    from muxi_cli.scaffold.generate import plan_project, write_plan

    repeat = 5 if quick else 20
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="muxi-bench-scaffold-") as tmp:
        base = Path(tmp)
        counter = iter(range(10_000))

        render_ms = median_ms(lambda: plan_project(_options(base / "unused")), repeat)
        results.append(
            Result("scaffold: render project in memory", round(render_ms, 1), "ms", "< 100 ms")
        )

        def generate() -> None:
            write_plan(plan_project(_options(base / f"p{next(counter)}")), force=False)

        write_ms = median_ms(generate, repeat)
        results.append(
            Result(
                "scaffold: generate project (render + write)", round(write_ms, 1), "ms", "< 1000 ms"
            )
        )

        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def cli() -> None:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "muxi_cli",
                    "create",
                    "mcp-server",
                    "--name",
                    "cli-bench",
                    "--output-dir",
                    str(base / f"c{next(counter)}"),
                    "--dockerfile",
                    "--json",
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=env,
                check=True,
                timeout=60,
            )

        cli_ms = median_ms(cli, 3 if quick else 7)
        results.append(
            Result(
                "scaffold: `muxi create mcp-server` process",
                round(cli_ms, 1),
                "ms",
                "< 1000 ms",
                note="whole process: interpreter start, CLI import, render, write",
            )
        )

        # Generate -> its own tests pass, with this venv's Python (no install).
        start = time.perf_counter()
        project = base / "existing-env"
        write_plan(plan_project(_options(project)), force=False)
        _pytest(sys.executable, project)
        results.append(
            Result(
                "scaffold: generate -> passing tests (existing env)",
                round(time.perf_counter() - start, 1),
                "s",
                note="muxi's venv already has the MCP SDK; in-memory, stdio and HTTP tests",
            )
        )

        # Generate -> fresh venv -> pip install .[dev] -> its own tests pass.
        start = time.perf_counter()
        project = base / "fresh"
        write_plan(plan_project(_options(project)), force=False)
        env_dir = base / "fresh-venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        python = str(env_dir / "bin" / "python")
        venv_done = time.perf_counter()
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                f"{project}[dev]",
            ],
            check=True,
            capture_output=True,
            env=_env(),
            timeout=900,
        )
        installed = time.perf_counter()
        _pytest(python, project)
        done = time.perf_counter()
        results.append(
            Result(
                "scaffold: generate -> passing tests (fresh venv)",
                round(done - start, 1),
                "s",
                note=(
                    f"venv {venv_done - start:.1f}s + pip install {installed - venv_done:.1f}s "
                    f"(pip cache warm after the first run) + pytest {done - installed:.1f}s"
                ),
            )
        )
        shutil.rmtree(env_dir, ignore_errors=True)
    return results


def _pytest(python: str, project: Path) -> None:
    proc = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"the generated tests failed:\n{proc.stdout[-2000:]}{proc.stderr[-1000:]}"
        )
