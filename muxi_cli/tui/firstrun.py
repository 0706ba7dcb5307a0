"""What the first-run setup writes: a provider key, or a local OpenAI-compatible server.

The choices are the provider table's (:mod:`muxi_cli.providers`): every hosted
service with a key variable, and every server preset (Ollama, LM Studio, vLLM,
llama.cpp, ...). No Textual here, so the logic is testable on its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from muxi_cli import paths
from muxi_cli.errors import UsageError
from muxi_cli.providers import table
from muxi_cli.providers.spec import ProviderSpec
from muxi_cli.secrets import set_secret

log = logging.getLogger(__name__)

LOCAL_PROVIDER = "local"
#: The server preset chosen first (its base URL fills the field).
DEFAULT_SERVER_PRESET = "ollama"


def key_providers() -> list[ProviderSpec]:
    """Hosted services that take an API key, in the table's order."""
    return [s for s in table.specs() if s.key_env and not s.local]


def server_presets() -> list[ProviderSpec]:
    """Servers that need no key: local ones and the generic OpenAI-compatible preset."""
    return [s for s in table.specs() if not s.key_env and s.wire == "openai"]


def store_provider_key(provider: str, key: str) -> str:
    """Save ``key`` as ``provider:<provider>``; returns where it went."""

    names = [s.name for s in key_providers()]
    if provider not in names:
        raise UsageError(f"unknown provider {provider!r}", hint=f"Choose {', '.join(names)}.")
    key = key.strip()
    if not key or any(c.isspace() for c in key):
        raise UsageError(
            "the key is empty or contains spaces", hint="Paste the whole API key, nothing else."
        )
    return set_secret(f"provider:{provider}", key)


def stored_message(provider: str, where: str) -> str:
    """What the setup screen says after storing a key: the place, named in full.

    ``where`` is :func:`muxi_cli.secrets.set_secret`'s answer, e.g.
    ``file (/home/me/.config/muxi/secrets.json, mode 0600)`` or ``keyring (module.Class)``.
    """
    kind, _, detail = where.partition(" (")
    detail = detail.removesuffix(")")
    if kind == "file" and detail:
        path, _, mode = detail.partition(", ")
        return f"Stored your {provider} key in the file {path}" + (f" ({mode})." if mode else ".")
    if kind == "keyring":
        return f"Stored your {provider} key in the system keyring" + (
            f" ({detail})." if detail else "."
        )
    return f"Stored your {provider} key in {where}."


def normalise_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(
            f"not a server URL: {url or '(empty)'}",
            hint="Use the server's OpenAI-compatible base URL, e.g. http://localhost:11434/v1",
        )
    return url


def _find_formation(config_path: str | None) -> Path | None:
    from muxi_cli.config.loader import find_formation  # deferred: keeps start-up light

    if config_path:
        return Path(config_path).expanduser()
    found = find_formation()
    return Path(found) if found else None


def formation_target(config_path: str | None = None) -> tuple[Path, bool]:
    """The file :func:`write_local_server` would write, and whether it exists already."""
    path = _find_formation(config_path)
    if path is not None and path.exists():
        return path, True
    return paths.config_dir() / "muxi.yaml", False


def write_local_server(
    base_url: str, model: str, config_path: str | None = None, preset: str | None = None
) -> Path:
    """Point the formation at a local server; returns the file written.

    ``preset`` names the kind of server (a provider-table entry) so requests
    adapt to it. Extends the user's formation if one is found (keeping its other
    keys), else writes ``<config dir>/muxi.yaml``.
    """
    import yaml  # deferred: PyYAML is slow to import

    base_url = normalise_base_url(base_url)
    model = model.strip()
    if not model or any(c.isspace() for c in model):
        raise UsageError(
            "the model name is empty or has spaces",
            hint="Use the name the server lists, e.g. llama3.2",
        )
    path, exists = formation_target(config_path)
    data: dict[str, Any] = {}
    if exists:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise UsageError(
                f"{path} is not a formation (a YAML mapping)",
                hint="Fix or move that file, then retry.",
            )
        data = loaded
    providers = data.get("providers")
    if not isinstance(providers, dict):
        providers = {}
    entry: dict[str, Any] = {
        **(providers.get(LOCAL_PROVIDER) or {}),
        "type": "openai",
        "base_url": base_url,
    }
    if preset:
        spec = table.lookup(preset)
        if spec is None:
            raise UsageError(f"unknown server preset {preset!r}")
        entry["preset"] = spec.name
    providers[LOCAL_PROVIDER] = entry
    data["providers"] = providers
    data["default_model"] = f"{LOCAL_PROVIDER}/{model}"
    paths.ensure_dir(path.parent)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    log.info("first-run setup wrote a local server to %s", path)
    return path
