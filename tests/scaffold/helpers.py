"""Helpers shared by the scaffold tests."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from muxi_cli.scaffold.generate import Plan, plan_project, write_plan
from muxi_cli.scaffold.options import ScaffoldOptions, build_options
from muxi_cli.scaffold.render import leftover_placeholders

REPO = Path(__file__).resolve().parents[2]


def make_options(tmp_path: Path, **overrides: Any) -> ScaffoldOptions:
    values: dict[str, Any] = {
        "name": "demo-server",
        "description": None,
        "tools": None,
        "resources": True,
        "prompts": True,
        "transport": "both",
        "author": "Ada Lovelace <ada@example.org>",
        "dockerfile": False,
        "register": False,
        "output_dir": None,
    }
    values.update(overrides)
    if values["output_dir"] is None:
        values["output_dir"] = tmp_path / values["name"]
    return build_options(**values)


def generate(tmp_path: Path, **overrides: Any) -> Plan:
    plan = plan_project(make_options(tmp_path, **overrides))
    write_plan(plan, force=False)
    return plan


def placeholders_left(project: Path) -> list[str]:
    found = []
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            found += [f"{path}: {hit}" for hit in leftover_placeholders(text)]
            if "__pkg__" in str(path) or "__pkg__" in text:
                found.append(f"{path}: __pkg__")
    return found


@contextmanager
def imported_server(project: Path, package: str) -> Iterator[ModuleType]:
    """Import ``<package>.server`` from the generated project's src/ folder."""
    src = str(project / "src")
    sys.path.insert(0, src)
    try:
        yield importlib.import_module(f"{package}.server")
    finally:
        sys.path.remove(src)
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


def clean_env() -> dict[str, str]:
    """The environment for a generated project's own processes (no muxi test settings)."""
    drop = ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")
    return {k: v for k, v in os.environ.items() if k not in drop}


def run_generated_tests(
    project: Path, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
