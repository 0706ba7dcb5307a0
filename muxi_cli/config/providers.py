"""Which model providers a formation uses, and whether each one has a key.

Used by ``muxi keys list`` and ``muxi doctor``. The key lookup itself is the
one the LLM layer uses (:func:`muxi_cli.llm.keys.find_key`), so what these
commands report is what a chat will find.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation, ProviderConfig

#: Providers every machine knows about, in display order.
KNOWN_PROVIDERS = ("anthropic", "openai")
#: The provider name that means a local Ollama even when not declared.
OLLAMA = "ollama"


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    name: str
    #: ``anthropic`` or ``openai`` (the wire format); ``None``: muxi does not know
    #: this provider (not built in, not under ``providers:``).
    kind: str | None
    has_key: bool
    #: ``config``, ``env NAME``, ``keyring``, ``file`` or ``None``.
    source: str | None
    #: The key masked for display (``sk-a…wxyz``), ``""`` when there is none.
    masked: str
    #: The environment variable muxi reads for this provider.
    env_var: str
    base_url: str | None
    #: A server on this machine (Ollama, vLLM, ...): no key needed.
    local: bool
    #: Named in the formation (``providers:`` or a ``provider/model`` reference).
    declared: bool

    @property
    def usable(self) -> bool:
        """Has a key, or is a local server that needs none (reachability aside)."""
        return self.has_key or self.local

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "set": self.has_key,
            "source": self.source,
            "key": self.masked,
            "env_var": self.env_var,
            "base_url": self.base_url,
            "local": self.local,
            "declared": self.declared,
        }


def _provider_of(ref: Any) -> str | None:
    if isinstance(ref, str) and "/" in ref:
        return ref.split("/", 1)[0] or None
    provider = getattr(ref, "provider", None)
    return provider if isinstance(provider, str) else None


def referenced_providers(formation: Formation) -> list[str]:
    """Providers the formation names: under ``providers:`` and in model references."""
    names: list[str] = list(formation.providers)
    refs: list[Any] = [
        formation.default_model,
        formation.router.model,
        formation.memory.extraction_model,
        formation.memory.summary_model,
    ]
    refs += [agent.model for agent in formation.agents]
    for ref in refs:
        name = _provider_of(ref)
        if name and name not in names:
            names.append(name)
    return names


def provider_names(formation: Formation | None) -> list[str]:
    """Known providers first, then the others the formation names."""
    names = list(KNOWN_PROVIDERS)
    if formation is not None:
        names += [n for n in referenced_providers(formation) if n not in names]
    return names


def is_local_url(url: str | None) -> bool:
    """A server on this machine (the same rule the provider registry uses)."""
    from muxi_cli.llm.registry import is_local_url as registry_is_local

    try:
        return registry_is_local(url)
    except ValueError:
        return False


def _agent_base_url(name: str, formation: Formation | None) -> str | None:
    """``model: {provider: name, base_url: ...}`` on an agent sets that provider's URL."""
    from muxi_cli.config.schema import ModelRef

    if formation is None:
        return None
    for agent in formation.agents:
        model = agent.model
        if isinstance(model, ModelRef) and model.provider == name and model.base_url:
            return model.base_url
    return None


def _find_key(name: str, config: ProviderConfig | None) -> tuple[str | None, str | None]:
    from muxi_cli.llm.keys import find_key

    return find_key(name, config)


def _env_var(name: str, config: ProviderConfig | None) -> str:
    from muxi_cli.llm.keys import env_var_for

    return env_var_for(name, config)


def _base_url(name: str, config: ProviderConfig | None) -> str | None:
    from muxi_cli.llm.keys import base_url_for

    return base_url_for(name, config)


def provider_status(name: str, formation: Formation | None = None) -> ProviderStatus:
    """Key and locality of one provider (the key itself is only shown masked)."""
    from muxi_cli import secrets

    config = formation.providers.get(name) if formation is not None else None
    declared = formation is not None and name in referenced_providers(formation)
    key, source = _find_key(name, config)
    if source == "keyring" and secrets.backend_name().startswith("file"):
        source = "file"
    base_url = _base_url(name, config) or _agent_base_url(name, formation)
    if name == OLLAMA and not base_url:
        base_url = ollama_url() + "/v1"
    kind = (config.type if config is not None else None) or (
        name if name in KNOWN_PROVIDERS else ("openai" if (base_url or config) else None)
    )
    return ProviderStatus(
        name=name,
        kind=kind,
        has_key=bool(key),
        source=source,
        masked=secrets.mask(key),
        env_var=_env_var(name, config),
        base_url=base_url,
        local=is_local_url(base_url),
        declared=declared,
    )


def all_provider_status(formation: Formation | None) -> list[ProviderStatus]:
    return [provider_status(name, formation) for name in provider_names(formation)]


def ollama_url() -> str:
    """Where a local Ollama listens (``$OLLAMA_HOST`` or 127.0.0.1:11434), without ``/v1``."""
    from muxi_cli.llm.registry import ollama_host

    return ollama_host()


def probe_ollama(timeout: float = 1.0) -> tuple[bool, str]:
    """``(reachable, detail)`` for a local Ollama; never raises."""
    import json
    import urllib.error
    import urllib.request

    url = ollama_url() + "/api/tags"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(1_000_000)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"not reachable at {ollama_url()} ({reason})"
    try:
        models = [m.get("name") for m in json.loads(body).get("models", [])]
    except (ValueError, AttributeError):
        return True, f"reachable at {ollama_url()}"
    shown = ", ".join(str(m) for m in models[:5]) or "no models pulled yet"
    return True, f"reachable at {ollama_url()} ({len(models)} models: {shown})"


def probe_local_server(
    base_url: str, headers: dict[str, str] | None = None, timeout: float = 1.0
) -> tuple[bool, str]:
    """``(reachable, detail)`` for an OpenAI-compatible server: ``GET <base_url>/models``.

    The detail names up to five of the models it serves. Never raises.
    """
    import json
    import urllib.error
    import urllib.request

    url = base_url.rstrip("/") + "/models"
    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(2_000_000)
    except urllib.error.HTTPError as exc:
        # It answers, just not this route (some servers have no model list).
        return True, f"reachable at {base_url} (GET /models answered HTTP {exc.code})"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"not reachable at {base_url} ({reason})"
    try:
        data = json.loads(body).get("data", [])
        models = [str(m.get("id")) for m in data if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return True, f"reachable at {base_url}"
    shown = ", ".join(models[:5]) or "no models listed"
    more = f" and {len(models) - 5} more" if len(models) > 5 else ""
    return True, f"reachable at {base_url} ({len(models)} models: {shown}{more})"
