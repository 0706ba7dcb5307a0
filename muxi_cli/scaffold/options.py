"""What a project is generated from: the answers to the scaffolder's questions."""

from __future__ import annotations

import getpass
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from muxi_cli.errors import UsageError
from muxi_cli.scaffold.names import ProjectName, validate_name, validate_tool_name

Transport = Literal["stdio", "http", "both"]
TRANSPORTS: tuple[Transport, ...] = ("stdio", "http", "both")

DEFAULT_NAME = "my-mcp-server"
DEFAULT_TOOLS = ("word_count",)
DEFAULT_TRANSPORT: Transport = "both"
DEFAULT_PORT = 8000
MAX_DESCRIPTION = 300
#: The MCP Python SDK the generated project depends on (its current major version).
MCP_REQUIREMENT = "mcp>=2.3,<3"


@dataclass
class ScaffoldOptions:
    """Everything a project is generated from (already validated)."""

    name: ProjectName
    description: str
    tools: list[str] = field(default_factory=lambda: list(DEFAULT_TOOLS))
    resources: bool = True
    prompts: bool = True
    transport: Transport = DEFAULT_TRANSPORT
    author_name: str = "Your Name"
    author_email: str | None = None
    dockerfile: bool = False
    register: bool = False
    #: The project folder itself (created if missing).
    output_dir: Path = field(default_factory=Path.cwd)
    template: str = "python"
    port: int = DEFAULT_PORT
    #: The MCP feature examples: log messages to the client, completions of the
    #: prompt's and resource template's arguments, a tool that reports progress
    #: and one that returns an image.
    extras: bool = True

    @property
    def stdio(self) -> bool:
        return self.transport in ("stdio", "both")

    @property
    def http(self) -> bool:
        return self.transport in ("http", "both")

    def check(self) -> None:
        """Cross-field checks; raise :class:`UsageError`."""
        if not (self.tools or self.resources or self.prompts):
            raise UsageError(
                "the server would offer nothing: no tools, resources or prompts",
                hint="Give at least one --tool NAME, or keep --resources or --prompts.",
            )
        if self.dockerfile and not self.http:
            raise UsageError(
                "the Dockerfile serves over HTTP, but the transport is stdio only",
                hint="Use --transport http or --transport both, or --no-dockerfile.",
            )


def default_description(name: ProjectName) -> str:
    return f"{name.title}: an MCP server."


def clean_description(text: str) -> str:
    """One line, no control characters, no template syntax, at most 300 characters."""
    line = " ".join(text.split())
    line = "".join(ch for ch in line if ch.isprintable())
    for token in ("{{", "}}", "{%", "%}"):
        if token in line:
            raise UsageError(
                f"the description cannot contain {token!r}",
                hint="Leave out the template-like braces.",
            )
    if len(line) > MAX_DESCRIPTION:
        raise UsageError(
            f"the description is longer than {MAX_DESCRIPTION} characters",
            hint="Keep it to one sentence; the README is the place for more.",
        )
    return line


def clean_tools(names: list[str]) -> list[str]:
    tools: list[str] = []
    for raw in names:
        for part in raw.split(","):
            if not part.strip():
                continue
            name = validate_tool_name(part)
            if name in tools:
                raise UsageError(f"the tool {name!r} is given twice", hint="Give each --tool once.")
            tools.append(name)
    return tools


_AUTHOR = re.compile(r"^\s*(?P<name>[^<>]*?)\s*(?:<(?P<email>[^<>\s]+@[^<>\s]+)>)?\s*$")


def parse_author(text: str) -> tuple[str, str | None]:
    """``"Ada Lovelace <ada@example.org>"`` -> ``("Ada Lovelace", "ada@example.org")``."""
    match = _AUTHOR.match(" ".join(text.split()))
    if not match or not (match.group("name") or match.group("email")):
        raise UsageError(
            f"cannot read the author {text!r}",
            hint='Write it as --author "Name <email@example.org>" or just a name.',
        )
    name = match.group("name") or (match.group("email") or "").split("@")[0]
    for token in ("{{", "}}", "{%", "%}"):
        if token in name:
            raise UsageError(f"the author name cannot contain {token!r}")
    return name, match.group("email")


def _git_config(key: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "config", "--get", key],
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = proc.stdout.strip()
    return value or None


def default_author() -> tuple[str, str | None]:
    """The author from ``git config user.name`` / ``user.email``, else the login name."""
    name = _git_config("user.name")
    email = _git_config("user.email")
    if not name:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = "Your Name"
    try:
        return parse_author(f"{name} <{email}>" if email else name)
    except UsageError:
        return "Your Name", None


def author_text(name: str, email: str | None) -> str:
    return f"{name} <{email}>" if email else name


def build_options(
    *,
    name: str,
    description: str | None,
    tools: list[str] | None,
    resources: bool,
    prompts: bool,
    transport: str,
    author: str | None,
    dockerfile: bool,
    register: bool,
    output_dir: Path | None,
    port: int = DEFAULT_PORT,
    extras: bool = True,
) -> ScaffoldOptions:
    """Validate raw answers (flags or prompts) into :class:`ScaffoldOptions`."""
    project = validate_name(name)
    if transport not in TRANSPORTS:
        raise UsageError(
            f"unknown transport {transport!r}", hint="Use --transport stdio, http or both."
        )
    author_name, author_email = parse_author(author) if author else default_author()
    options = ScaffoldOptions(
        name=project,
        description=clean_description(description or default_description(project)),
        tools=list(DEFAULT_TOOLS) if tools is None else clean_tools(tools),
        resources=resources,
        prompts=prompts,
        transport=transport,
        author_name=author_name,
        author_email=author_email,
        dockerfile=dockerfile,
        register=register,
        output_dir=(output_dir or Path.cwd() / project.raw).expanduser().absolute(),
        port=port,
        extras=extras,
    )
    options.check()
    return options
