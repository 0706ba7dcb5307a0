"""Plan and write a generated project."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muxi_cli.errors import MuxiError, UsageError
from muxi_cli.scaffold.options import ScaffoldOptions
from muxi_cli.scaffold.templates import RenderedFile, render_project


@dataclass
class Plan:
    """The files a project consists of, rendered but not yet written."""

    options: ScaffoldOptions
    files: list[RenderedFile]

    @property
    def project_dir(self) -> Path:
        return self.options.output_dir

    def paths(self) -> list[Path]:
        return [self.project_dir / f.path for f in self.files]


def plan_project(options: ScaffoldOptions) -> Plan:
    """Render the project in memory (nothing is written)."""
    return Plan(options=options, files=render_project(options))


def check_target(project_dir: Path, *, force: bool) -> None:
    """Refuse a target that is a file, or a non-empty folder without ``force``."""
    if project_dir.exists() and not project_dir.is_dir():
        raise UsageError(
            f"{project_dir} exists and is not a folder",
            hint="Choose another --output-dir or --name.",
        )
    if project_dir.is_dir() and any(project_dir.iterdir()) and not force:
        raise UsageError(
            f"{project_dir} is not empty",
            hint="Choose another --output-dir or --name, or pass --force to write into it "
            "(files with the same names are overwritten, others are kept).",
        )


def write_plan(plan: Plan, *, force: bool) -> list[Path]:
    """Write every file of ``plan``; return the paths written."""
    check_target(plan.project_dir, force=force)
    written: list[Path] = []
    try:
        for item in plan.files:
            target = plan.project_dir / item.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise UsageError(f"{target} is a folder; the project needs a file there")
            # newline="\n": the same bytes on every platform.
            with target.open("w", encoding="utf-8", newline="\n") as handle:
                handle.write(item.content)
            written.append(target)
    except OSError as exc:
        raise MuxiError(
            f"cannot write {exc.filename or plan.project_dir}: {exc.strerror}",
            hint="Check the folder's permissions and free space.",
        ) from None
    return written


def summary(plan: Plan, *, dry_run: bool, registered: dict[str, Any] | None) -> dict[str, Any]:
    """The machine-readable result of ``muxi create mcp-server --json``."""
    opts = plan.options
    return {
        "name": opts.name.dist,
        "package": opts.name.package,
        "path": str(plan.project_dir),
        "template": opts.template,
        "description": opts.description,
        "transport": opts.transport,
        "tools": list(opts.tools),
        "resources": opts.resources,
        "prompts": opts.prompts,
        "dockerfile": opts.dockerfile,
        "extras": opts.extras,
        "author": {"name": opts.author_name, "email": opts.author_email},
        "dry_run": dry_run,
        "files": [f.path for f in plan.files],
        "registered": registered,
        "next_steps": next_steps(plan),
    }


def next_steps(plan: Plan) -> list[str]:
    project = plan.project_dir
    try:
        shown = os.path.relpath(project)
    except ValueError:  # another drive on Windows
        shown = str(project)
    if shown.startswith(".."):
        shown = str(project)
    bin_dir = ".venv\\Scripts" if os.name == "nt" else ".venv/bin"
    steps = [
        f"cd {shown}",
        "python -m venv .venv",
        f'{bin_dir}/pip install -e ".[dev]"',
        f"{bin_dir}/pytest",
    ]
    if plan.options.stdio:
        steps.append(f"{bin_dir}/{plan.options.name.dist} --transport stdio")
    else:
        steps.append(f"{bin_dir}/{plan.options.name.dist} --transport http")
    return steps
