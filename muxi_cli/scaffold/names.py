"""Project and tool name validation, with corrected suggestions.

A project name must work as three things at once:

- a distribution name (PEP 508; normalised per PEP 503/625 to lowercase with ``-``),
- a folder name (no path separators, no ``..``),
- an import name (the distribution name with ``-`` as ``_``): an ASCII identifier,
  not a keyword, and not shadowing the standard library or a dependency of the
  generated project (``mcp``, ``pydantic``, ``pytest``...).

Names may use ASCII letters, digits, ``-`` and ``_``; they start with a letter
and end with a letter or a digit. Every rejection carries a suggestion that
passes the same checks.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata
from dataclasses import dataclass

from muxi_cli.errors import UsageError

MAX_LENGTH = 64

#: Import names the generated project depends on (runtime or tests): a package with
#: one of these names would shadow the real one.
DEPENDENCY_NAMES = frozenset(
    {
        "mcp",
        "mcp_types",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "anyio",
        "starlette",
        "uvicorn",
        "httpx",
        "httpx2",
        "sse_starlette",
        "jsonschema",
        "typing_extensions",
        "pytest",
        "_pytest",
        "tests",
        "src",
        "setuptools",
        "hatchling",
        "pip",
    }
)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*[A-Za-z0-9]$|^[A-Za-z]$")
_TOOL = re.compile(r"^[a-z][a-z0-9_]*$")

#: Names a tool function must not take: they are used by the generated server module.
RESERVED_TOOL_NAMES = frozenset(
    {
        "create_server",
        "server",
        "main",
        "logger",
        "logging",
        "annotations",
        "instructions",
        "read_only",
        "tool_error",
        "base_model",
        "field",
        "annotated",
    }
)


class InvalidNameError(UsageError):
    """A name that cannot be used, with a suggestion that can."""

    code = "invalid_name"

    def __init__(self, message: str, suggestion: str, *, flag: str = "--name") -> None:
        super().__init__(message, hint=f"Try {flag} {suggestion}")
        self.suggestion = suggestion


@dataclass(frozen=True)
class ProjectName:
    """The names derived from one valid project name."""

    raw: str
    #: PEP 503 normalised distribution name, e.g. ``weather-tools``.
    dist: str
    #: Import (package) name, e.g. ``weather_tools``.
    package: str
    #: A human title, e.g. ``Weather Tools``.
    title: str

    @property
    def uri_scheme(self) -> str:
        """A URI scheme for the server's resources (RFC 3986: letters, digits, ``-``)."""
        return self.dist


def normalize_dist(name: str) -> str:
    """PEP 503 normalisation: lowercase, runs of ``-``, ``_``, ``.`` become ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _shadowed(package: str) -> str | None:
    if package in DEPENDENCY_NAMES:
        return "a dependency of the generated project"
    if package in sys.stdlib_module_names:
        return "a standard library module"
    return None


def suggest_name(raw: str) -> str:
    """A valid project name as close to ``raw`` as possible."""
    text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    parts = [p for p in re.split(r"[/\\]+", text) if p.strip(" .")]
    text = parts[-1] if parts else ""
    text = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    text = text[:MAX_LENGTH].strip("-")
    if not text:
        return "mcp-server"
    if not text[0].isalpha():
        text = f"mcp-{text}"
    package = text.replace("-", "_")
    if keyword.iskeyword(package) or _shadowed(package):
        text = f"{text}-server"
    return text


def validate_name(raw: str) -> ProjectName:
    """Check ``raw`` as a project name; raise :class:`InvalidNameError` with a suggestion."""
    name = raw.strip()

    def bad(reason: str) -> InvalidNameError:
        suggestion = suggest_name(name)
        shown = name if name else "(empty)"
        return InvalidNameError(f"{shown!r} cannot be a project name: {reason}.", suggestion)

    if not name:
        raise bad("the name is empty")
    if "/" in name or "\\" in name or ".." in name:
        raise bad("it contains a path separator or '..'; use --output-dir to choose the folder")
    if any(ord(ch) > 127 for ch in name):
        raise bad("it contains non-ASCII characters, which an import name cannot have")
    if any(ch.isspace() for ch in name):
        raise bad("it contains spaces")
    if "." in name:
        raise bad("'.' in a project name makes the folder, distribution and package names differ")
    if len(name) > MAX_LENGTH:
        raise bad(f"it is longer than {MAX_LENGTH} characters")
    if not _NAME.match(name):
        if name[0].isdigit():
            raise bad("the package name would start with a digit, which is not a Python identifier")
        raise bad(
            "use ASCII letters, digits, '-' and '_', starting with a letter "
            "and ending with a letter or a digit"
        )
    dist = normalize_dist(name)
    package = dist.replace("-", "_")
    if keyword.iskeyword(package):
        raise bad(f"the package name {package!r} is a Python keyword")
    shadow = _shadowed(package)
    if shadow:
        raise bad(f"the package name {package!r} would shadow {shadow}")
    title = " ".join(word.capitalize() for word in dist.split("-"))
    return ProjectName(raw=name, dist=dist, package=package, title=title)


def suggest_tool_name(raw: str) -> str:
    text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    if not text:
        return "example_tool"
    if not text[0].isalpha():
        text = f"tool_{text}"
    if keyword.iskeyword(text) or text in RESERVED_TOOL_NAMES:
        text = f"{text}_tool"
    return text


def validate_tool_name(raw: str) -> str:
    """A tool name is a lowercase ``snake_case`` identifier (it becomes a function name)."""
    name = raw.strip()

    def bad(reason: str) -> InvalidNameError:
        return InvalidNameError(
            f"{name or '(empty)'!r} cannot be a tool name: {reason}.",
            suggest_tool_name(name),
            flag="--tool",
        )

    if not _TOOL.match(name):
        raise bad("use lowercase ASCII letters, digits and '_', starting with a letter")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise bad("it is a Python keyword")
    if name in RESERVED_TOOL_NAMES:
        raise bad("the generated server module uses that name")
    if len(name) > MAX_LENGTH:
        raise bad(f"it is longer than {MAX_LENGTH} characters")
    return name


def class_name(tool: str) -> str:
    """``word_count`` -> ``WordCountResult``."""
    return "".join(part.capitalize() for part in tool.split("_") if part) + "Result"
