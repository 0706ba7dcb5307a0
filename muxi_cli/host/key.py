"""What a host is keyed by, and whether hosts are switched on.

The key is the sha256 of canonical JSON: muxi's version, the formation file (or
``builtin:<cwd>``), the profile and the environment that changes what agents do
(:func:`key_environment`). Only the hash is ever stored, never a value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from muxi_cli import __version__
from muxi_cli.config.locate import locate_formation

PROFILE = "local"
DEFAULT_IDLE = 600.0

#: Variables whose value changes what a turn does, besides every ``MUXI_*``.
_EXACT = frozenset(
    {
        "HOME",
        "PATH",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "PYTHON_KEYRING_BACKEND",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        # the local user id (getpass.getuser() reads these when MUXI_USER_ID is unset)
        "LOGNAME",
        "USER",
        "LNAME",
        "USERNAME",
        # what stdio MCP servers inherit (tools/mcp_client.py; TERM is left out:
        # it differs per terminal and servers speak JSON over pipes)
        "SHELL",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "TMPDIR",
        "SSL_CERT_DIR",
        "VIRTUAL_ENV",
    }
)
_SUFFIXES = ("_API_KEY", "_BASE_URL", "_API_BASE", "_ORG_ID", "_ORGANIZATION", "_PROJECT")
_PROXIES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"})
#: ``MUXI_*`` that only say how this process shows things or where hosts live.
_DISPLAY = frozenset({"MUXI_VERBOSE", "MUXI_RUNTIME_DIR"})
_OFF = frozenset({"off", "0", "false", "no"})


def counts(name: str) -> bool:
    """Whether environment variable ``name`` is part of the key."""
    if name.startswith("MUXI_"):
        return not name.startswith("MUXI_HOST") and name not in _DISPLAY
    if name.startswith("OTEL_"):  # where a host's spans go (runtime/telemetry.py)
        return True
    return name in _EXACT or name.upper() in _PROXIES or name.endswith(_SUFFIXES)


def key_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {k: v for k, v in sorted(env.items()) if counts(k)}


def resolve_config(config: str | None, cwd: Path | None = None) -> Path | None:
    """The formation file a command would load (``config.locate``'s choice), made
    absolute against ``cwd`` (default: the working folder); None for the built-in one."""
    found = locate_formation(config).path
    if found is None:
        return None
    return ((cwd or Path.cwd()) / found).resolve()


def host_key(
    formation: Path | None,
    *,
    cwd: Path | None = None,
    version: str = __version__,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The full key (64 hex digits); a host's id is its first 16."""
    where = str(formation) if formation is not None else "builtin:" + str(cwd or Path.cwd())
    doc = {
        "version": version,
        "formation": where,
        "profile": PROFILE,
        "env": key_environment(environ),
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def host_id(key: str) -> str:
    return key[:16]


def switched_off_by_env() -> bool:
    return os.environ.get("MUXI_HOST", "on").strip().lower() in _OFF


def host_section(formation: Path | None) -> dict[str, Any]:
    """The formation's ``host:`` mapping by a plain YAML read ({} when absent or unreadable:
    the host itself validates it, and reports a bad one)."""
    if formation is None:
        return {}
    try:
        text = formation.read_text(encoding="utf-8")
    except OSError:
        return {}
    if not re.search(r"(?m)^host\s*:", text):
        return {}  # most formations: no YAML parse at all
    import yaml  # deferred: PyYAML costs ~10 ms, only formations with a host key pay it

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    section = doc.get("host") if isinstance(doc, dict) else None
    return section if isinstance(section, dict) else {}


def enabled(formation: Path | None) -> bool:
    if switched_off_by_env():
        return False
    return host_section(formation).get("enabled", True) is not False


def idle_timeout(formation: Path | None) -> float:
    """``MUXI_HOST_IDLE``, else the formation's ``host.idle_timeout``, else 600 s."""
    raw: Any = os.environ.get("MUXI_HOST_IDLE") or host_section(formation).get("idle_timeout")
    try:
        value = float(raw) if raw is not None else DEFAULT_IDLE
    except (TypeError, ValueError):
        return DEFAULT_IDLE
    return value if value > 0 else DEFAULT_IDLE
