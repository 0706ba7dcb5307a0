"""TARGET: what a developer points ``muxi mcp validate|test|docs|inspect`` at.

Three forms are understood:

* the name of a server in the formation (``muxi mcp validate time``);
* a command line, given after ``--`` (``muxi mcp validate -- python server.py``);
* a URL (``http://127.0.0.1:8000/mcp``; a path ending in ``/sse`` is legacy SSE).

:func:`parse_target` turns the command-line words into a :class:`Target`
holding an :class:`~muxi_cli.config.schema.MCPServerConfig`, the form the tool
layer connects with. :func:`attach_spec` does the same for the chat app's
``/mcp attach`` and returns the ``(name, server)`` pair ``Runtime.mcp_attach``
takes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from muxi_cli.config.expand import ExpansionError, expand_string
from muxi_cli.config.loader import load_formation
from muxi_cli.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from muxi_cli.config.schema import MCPServerConfig

Kind = Literal["server", "command", "url"]

FORMS_HINT = (
    "Give a server name from muxi.yaml (`muxi mcp validate time`), a command after `--` "
    "(`muxi mcp validate -- python server.py`), or a URL (`muxi mcp validate http://127.0.0.1:8000/mcp`)."
)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(slots=True)
class Target:
    """A resolved target: how to connect, and how to talk about it."""

    kind: Kind
    #: A short name (server name, command stem or URL host) used as the connection name.
    name: str
    config: MCPServerConfig
    base_dir: Path
    #: What the user typed, for reports.
    display: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def transport(self) -> str:
        return self.config.transport

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "transport": self.transport,
            "display": self.display,
        }


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _check_url(url: str) -> None:

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{url!r} is not a usable server URL (expected http(s)://host[:port]/path)",
            "For example: http://127.0.0.1:8000/mcp (streamable HTTP) or "
            "http://127.0.0.1:8000/sse (legacy SSE).",
        )


def safe_name(text: str) -> str:
    """A server name ``Runtime.mcp_attach`` accepts, made from ``text``."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")
    cleaned = cleaned[:64] or "server"
    if not cleaned[0].isalnum():
        cleaned = "s" + cleaned[:63]
    return cleaned


def url_name(url: str) -> str:

    parts = urlsplit(url)
    host = parts.hostname or "server"
    return safe_name(f"{host}-{parts.port}" if parts.port else host)


def command_name(words: Sequence[str], cwd: Path | None = None) -> str:
    """A readable name for a command line: ``python -m mcp_server_time`` -> ``mcp_server_time``."""
    if not words:
        return "server"
    words = list(words)
    for i, word in enumerate(words[:-1]):
        if word == "-m":
            return safe_name(words[i + 1])
    stems = [Path(w).stem for w in words[1:] if not w.startswith("-")]
    first = Path(words[0]).name
    interpreters = ("python", "python3", "node", "uv", "uvx", "npx", "deno", "bun")
    if first.split(".")[0].rstrip("0123456789.") in interpreters and stems:
        stem = stems[0]
        if stem in ("server", "main", "__main__", "index", "run"):
            script = next(Path(w) for w in words[1:] if not w.startswith("-"))
            parent = ((cwd or Path.cwd()) / script).resolve().parent.name
            stem = parent or stem
        return safe_name(stem)
    return safe_name(Path(first).stem)


def resolve_command(command: str, *, base_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """The absolute path of ``command`` (relative paths from ``base_dir``, names on PATH).

    Raises :class:`NotFoundError` naming the command when it cannot be found.
    """
    if os.sep in command or (os.altsep and os.altsep in command):
        path = Path(command)
        resolved = path if path.is_absolute() else (base_dir / path)
        if not resolved.exists():
            raise NotFoundError(
                f"command not found: {command}",
                f"No file {resolved}. Check the path (relative paths start from {base_dir}).",
            )
        return os.path.abspath(resolved)
    search = (env or {}).get("PATH") or os.environ.get("PATH", os.defpath)
    found = shutil.which(command, path=search)
    if found is None:
        raise NotFoundError(
            f"command not found: {command}",
            "Check the spelling, give a full path, or activate the environment that provides it.",
        )
    return found


def _expand_value(option: str, key: str, value: str) -> str:
    """``${VAR}`` in an ``--env``/``--header`` value, from this process's environment.

    So a secret can stay out of argv (and ``ps``): ``--header 'Authorization: Bearer ${TOKEN}'``
    in single quotes reaches muxi unexpanded and is filled in here.
    """

    try:
        return expand_string(value)
    except ExpansionError as exc:
        raise UsageError(
            f"{option} {key}: {exc.problem}",
            "Export the variable first, or write $$ for a literal $.",
        ) from None


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` words (from ``--env``) as a mapping; ``${VAR}`` in values expands."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--env {pair!r} is not KEY=VALUE", "For example: --env LOG_LEVEL=debug"
            )
        env[key.strip()] = _expand_value("--env", key.strip(), value)
    return env


def parse_headers(pairs: Sequence[str]) -> dict[str, str]:
    """``Name: value`` (or ``Name=value``) words (from ``--header``); ``${VAR}`` in values expands."""
    headers: dict[str, str] = {}
    for pair in pairs:
        sep = ":" if ":" in pair else "="
        key, found, value = pair.partition(sep)
        if not found or not key.strip():
            raise UsageError(
                f"--header {pair!r} is not 'Name: value'",
                "For example: --header 'Authorization: Bearer ${TOKEN}' "
                "(muxi fills in ${TOKEN} from the environment)",
            )
        headers[key.strip()] = _expand_value("--header", key.strip(), value.strip())
    return headers


def _from_formation(name: str, config_path: str | None) -> Target | None:

    loaded = load_formation(config_path)
    servers = loaded.formation.mcp_servers
    if name not in servers:
        return None
    base_dir = loaded.path.parent if loaded.path is not None else Path.cwd()
    return Target("server", name, servers[name], base_dir, display=name)


def _known_servers(config_path: str | None) -> list[str]:

    try:
        return sorted(load_formation(config_path).formation.mcp_servers)
    except Exception:  # a broken formation is reported by the commands that need it
        return []


def parse_target(
    words: Sequence[str],
    *,
    config_path: str | None = None,
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    after_dashes: bool | None = None,
) -> Target:
    """Resolve the TARGET words of a command.

    ``after_dashes`` says the words came after ``--`` (always a command); when
    unknown, several words are a command and a single word is a URL, a
    formation server name, or else a command found on PATH.
    """
    from muxi_cli.config.schema import MCPServerConfig  # deferred: loads pydantic

    words = [w for w in words]
    cwd = (cwd or Path.cwd()).resolve()
    if not words:
        raise UsageError("no TARGET given", FORMS_HINT)
    if len(words) == 1 and not after_dashes:
        word = words[0]
        if is_url(word):
            _check_url(word)
            cfg = MCPServerConfig(url=word, headers=dict(headers or {}))
            return Target("url", url_name(word), cfg, cwd, display=word)
        if "://" in word:
            raise UsageError(
                f"unsupported URL scheme in {word!r}: only http:// and https:// servers can be reached",
                FORMS_HINT,
            )
        found = _from_formation(word, config_path) if _NAME_RE.fullmatch(word) else None
        if found is not None:
            if env or headers:
                update: dict[str, Any] = {}
                if env:
                    update["env"] = {**found.config.env, **env}
                if headers:
                    update["headers"] = {**found.config.headers, **headers}
                found.config = found.config.model_copy(update=update)
            return found
        looks_like_command = os.sep in word or shutil.which(word) is not None
        if not looks_like_command:
            known = _known_servers(config_path)
            listed = f" Servers in the formation: {', '.join(known)}." if known else ""
            raise NotFoundError(
                f"{word!r} is not a server in the formation, a URL or a command",
                FORMS_HINT + listed,
            )
    if headers:
        raise UsageError("--header applies to URL targets only", "Use --env for a command target.")
    command = resolve_command(words[0], base_dir=cwd, env=env)
    cfg = MCPServerConfig(command=command, args=list(words[1:]), env=dict(env or {}), cwd=str(cwd))
    display = shlex.join(words)
    return Target("command", command_name(words, cwd), cfg, cwd, display=display)


def attach_spec(text: str, *, cwd: Path | None = None) -> tuple[str, dict[str, Any]]:
    """``/mcp attach`` arguments as the ``(name, server)`` pair for ``Runtime.mcp_attach``.

    ``text`` is ``[--name NAME] (URL | COMMAND ARGS...)``, shell-quoted. A
    command is resolved now (relative paths from ``cwd``) and runs in ``cwd``,
    so ``/mcp attach python server.py`` works from the project folder whatever
    folder the formation lives in. The name defaults to the script or module
    name, or the URL's host and port.
    """
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(
            f"cannot parse {text!r}: {exc}", "Quote arguments that contain spaces."
        ) from None
    name: str | None = None
    if words and words[0] in ("--name", "-n"):
        if len(words) < 2:
            raise UsageError(
                "--name needs a value",
                "For example: /mcp attach --name time python -m mcp_server_time",
            )
        name, words = words[1], words[2:]
    elif words and words[0].startswith("--name="):
        name, words = words[0].split("=", 1)[1], words[1:]
    if words and words[0] == "--":
        words = words[1:]
    if not words:
        raise UsageError(
            "nothing to attach",
            "Give a URL or a command: /mcp attach python server.py, /mcp attach http://127.0.0.1:8000/mcp",
        )
    base = (cwd or Path.cwd()).resolve()
    if len(words) == 1 and is_url(words[0]):
        _check_url(words[0])
        server: dict[str, Any] = {"url": words[0]}
        default = url_name(words[0])
    else:
        command = resolve_command(words[0], base_dir=base)
        server = {"command": command, "args": words[1:], "cwd": str(base)}
        default = command_name(words, base)
    name = name or default
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid server name {name!r}",
            "Use letters, digits, '-', '_' and '.' (max 64 characters): /mcp attach --name NAME ...",
        )
    return name, server
