"""Which model providers a formation uses, and whether each one has a key.

Used by ``muxi keys list``, ``muxi doctor`` and ``muxi config validate``. The
providers muxi knows and where their keys come from are the provider table's
(:mod:`muxi_cli.providers`), the same the LLM layer uses, so what these
commands report is what a chat will find.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muxi_cli import secrets
from muxi_cli.config.schema import ModelRef
from muxi_cli.providers import table
from muxi_cli.providers.keys import base_url_for, env_var_for, find_key
from muxi_cli.providers.local import is_local_url

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    name: str
    #: ``anthropic`` or ``openai`` (the wire format); ``None``: muxi does not know
    #: this provider (not in the provider table, not under ``providers:``).
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
    #: How people write the name (``Groq``), from the provider table.
    display_name: str = ""
    #: Where to get a key or how to start the server, from the provider table.
    hint: str = ""
    #: Needs an API key to be used (a hosted service; not a local server or a preset).
    needs_key: bool = True

    @property
    def usable(self) -> bool:
        """Has a key, or is a local server the formation names (reachability aside)."""
        return self.has_key or (self.local and self.declared)

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
        formation.audio.transcribe,
        formation.audio.speech,
    ]
    refs += [agent.model for agent in formation.agents]
    for ref in refs:
        name = _provider_of(ref)
        if name and name not in names:
            names.append(name)
    return names


def provider_names(formation: Formation | None) -> list[str]:
    """The provider table's names first, then the others the formation names."""
    names = table.names()
    if formation is not None:
        names += [n for n in referenced_providers(formation) if n not in names]
    return names


def _agent_base_url(name: str, formation: Formation | None) -> str | None:
    """``model: {provider: name, base_url: ...}`` on an agent sets that provider's URL."""
    if formation is None:
        return None
    for agent in formation.agents:
        model = agent.model
        if isinstance(model, ModelRef) and model.provider == name and model.base_url:
            return model.base_url
    return None


def provider_status(name: str, formation: Formation | None = None) -> ProviderStatus:
    """Key and locality of one provider (the key itself is only shown masked)."""
    config = formation.providers.get(name) if formation is not None else None
    declared = formation is not None and name in referenced_providers(formation)
    spec = table.get(name)
    preset = table.lookup(config.preset) if config is not None and config.preset else None
    key, source = find_key(name, config)  # source: where the key really is
    base_url = base_url_for(name, config) or _agent_base_url(name, formation)
    if base_url is None and preset is not None:
        base_url = preset.resolved_base_url(os.environ)
    kind = (config.type if config is not None else None) or (
        spec.wire
        if spec is not None
        else preset.wire
        if preset is not None
        else ("openai" if (base_url or config) else None)
    )
    about = spec or preset
    return ProviderStatus(
        name=name,
        kind=kind,
        has_key=bool(key),
        source=source,
        masked=secrets.mask(key),
        env_var=env_var_for(name, config),
        base_url=base_url,
        local=is_local_url(base_url) or (spec is not None and spec.local),
        declared=declared,
        display_name=about.display_name if about is not None else name,
        hint=about.hint if about is not None else "",
        needs_key=bool(spec.key_env) if spec is not None else True,
    )


def all_provider_status(formation: Formation | None) -> list[ProviderStatus]:
    return [provider_status(name, formation) for name in provider_names(formation)]
