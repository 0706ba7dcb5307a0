"""The shipped project templates and how a whole project is rendered in memory.

Templates live in the repository's top-level ``templates/`` folder; the wheel
carries them as ``muxi_cli/_templates`` (see ``pyproject.toml``). Each template
folder has a ``template.toml`` (name, description, and ``[when]``: files written
only when a condition holds) and files ending in ``.tmpl``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.scaffold.names import class_name
from muxi_cli.scaffold.options import MCP_REQUIREMENT, ScaffoldOptions
from muxi_cli.scaffold.render import (
    TemplateError,
    condition,
    leftover_placeholders,
    render,
    render_path,
)

#: Template name -> folder name under the templates root.
TEMPLATES = {"python": "mcp-server-python"}
MANIFEST = "template.toml"


def templates_root() -> Path:
    """``muxi_cli/_templates`` in an installed wheel, else the source tree's ``templates/``."""
    package_dir = Path(__file__).resolve().parent.parent
    installed = package_dir / "_templates"
    if installed.is_dir():
        return installed
    source = package_dir.parent / "templates"
    if source.is_dir():
        return source
    raise MuxiError(
        "the project templates are missing from this muxi installation",
        hint="Reinstall muxi (the wheel carries them as muxi_cli/_templates).",
    )


def template_dir(template: str) -> Path:
    folder = TEMPLATES.get(template)
    if folder is None:
        raise NotFoundError(
            f"unknown template {template!r}", hint=f"Known templates: {', '.join(TEMPLATES)}."
        )
    path = templates_root() / folder
    if not (path / MANIFEST).is_file():
        raise MuxiError(f"the template {template!r} is incomplete ({path / MANIFEST} is missing)")
    return path


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative, with "/" separators
    content: str


def _manifest(root: Path) -> dict[str, Any]:
    import tomllib  # deferred: tomllib is slow to import

    with (root / MANIFEST).open("rb") as handle:
        return tomllib.load(handle)


def venv_bin(project_dir: Path) -> Path:
    return project_dir / ".venv" / ("Scripts" if os.name == "nt" else "bin")


def venv_python(project_dir: Path) -> Path:
    return venv_bin(project_dir) / ("python.exe" if os.name == "nt" else "python")


def _import_line(module: str, names: list[str]) -> str:
    """``from module import a, b`` as ruff formats it: one line when it fits in 100
    characters, else one name a line in parentheses."""
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= 100:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


def build_context(options: ScaffoldOptions) -> dict[str, Any]:
    """The names and values the templates use."""
    name = options.name
    project_dir = options.output_dir
    tools = [
        {
            "name": tool,
            "class_name": class_name(tool),
            "title": " ".join(part.capitalize() for part in tool.split("_") if part),
            "description": "Count the words and characters of a text, and repeat it `times` times.",
        }
        for tool in options.tools
    ]
    options_flags = ["--transport"]
    if options.http:
        options_flags += ["--host", "--port"]
    options_flags.append("--log-level")
    completions = options.extras and (options.prompts or options.resources)
    # What server.py imports from mcp.types (one sorted line).
    type_names = ["ToolAnnotations"] if tools or options.extras else []
    if options.extras:  # the logging/setLevel handler
        type_names += ["EmptyResult", "LoggingLevel", "SetLevelRequestParams"]
    if completions:
        type_names += ["Completion", "CompletionArgument", "PromptReference"]
        type_names.append("ResourceTemplateReference")
    test_kinds = ["in memory"]
    if options.stdio:
        test_kinds.append("stdio")
    if options.http:
        test_kinds.append("HTTP")
    return {
        "name": name.raw,
        "dist": name.dist,
        "pkg": name.package,
        "title": name.title,
        "scheme": name.uri_scheme,
        "description": options.description,
        "author_name": options.author_name,
        "author_email": options.author_email or "",
        "tools": tools,
        "has_tools": bool(tools),
        "first_tool": options.tools[0] if options.tools else "",
        "tool_names_json": json.dumps(options.tools),
        "resources": options.resources,
        "prompts": options.prompts,
        "stdio": options.stdio,
        "http": options.http,
        "default_transport": "stdio" if options.stdio else "http",
        "dockerfile": options.dockerfile,
        "extras": options.extras,
        "completions": completions,
        "any_tools": bool(tools) or options.extras,
        "mcp_types_import": _import_line("mcp.types", sorted(set(type_names))),
        "completion_args": " and ".join(
            text
            for text, wanted in (
                ("the prompt's `style`", options.prompts),
                ("the greeting template's `name`", options.resources),
            )
            if wanted
        ),
        "completion_refs": ", ".join(
            name
            for name, wanted in (
                ("PromptReference", options.prompts),
                ("ResourceTemplateReference", options.resources),
            )
            if wanted
        ),
        "extra_tools_json": json.dumps(["slow_count", "color_swatch"] if options.extras else []),
        "port": options.port,
        "project_dir": str(project_dir),
        "venv_bin": str(venv_bin(project_dir)),
        "venv_python": str(venv_python(project_dir)),
        "mcp_requirement": MCP_REQUIREMENT,
        "cli_options": ", ".join(f"`{flag}`" for flag in options_flags),
        "cli_options_plain": ", ".join(options_flags),
        "test_kinds": ", ".join(test_kinds),
    }


def render_project(options: ScaffoldOptions) -> list[RenderedFile]:
    """Render every file of ``options.template`` in memory, checked for leftovers."""
    root = template_dir(options.template)
    manifest = _manifest(root)
    when: dict[str, str] = dict(manifest.get("when", {}))
    context = build_context(options)
    files: list[RenderedFile] = []
    for source in sorted(root.rglob("*")):
        if not source.is_file() or source.name == MANIFEST or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(root).as_posix()
        rule = when.get(relative)
        if rule and not condition(rule, context, f"{MANIFEST} [when] {relative}"):
            continue
        text = source.read_text(encoding="utf-8")
        content = render(text, context, name=relative) if relative.endswith(".tmpl") else text
        target = render_path(relative, context)
        left = leftover_placeholders(content)
        if left or "__pkg__" in target:
            raise TemplateError(
                f"{relative}: template syntax left in the output ({', '.join(left[:3]) or target})",
                hint="This is a bug in the template; please report it.",
            )
        files.append(RenderedFile(target, content))
    unknown = set(when) - {f.relative_to(root).as_posix() for f in root.rglob("*") if f.is_file()}
    if unknown:
        raise TemplateError(
            f"{MANIFEST} names files that do not exist: {', '.join(sorted(unknown))}"
        )
    return files
