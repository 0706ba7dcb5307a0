"""Which model an agent uses, and the provider object that serves it.

Model references are ``provider/model``; the provider is everything before the
FIRST ``/`` (model names may contain ``/``). The providers muxi knows are the
entries of the provider table (:mod:`muxi_cli.providers`: Anthropic, OpenAI, the
common OpenAI-compatible services and local servers); any name under
``providers:`` in the formation is added (``type: openai`` or ``anthropic`` with
a ``base_url``, or ``preset: <table entry>``). This module turns a table entry
plus the formation's settings into an SDK-driving provider object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from muxi_cli.config.providers import referenced_providers
from muxi_cli.config.schema import ProviderConfig
from muxi_cli.errors import ConfigError, NoProviderError
from muxi_cli.llm.capabilities import capabilities_for
from muxi_cli.llm.pricing import builtin_price, cost
from muxi_cli.providers import table
from muxi_cli.providers.keys import base_url_for, env_var_for, find_key
from muxi_cli.providers.local import is_local_url, probe_ollama
from muxi_cli.providers.spec import (
    LOCAL_IMAGE_LIMITS,
    LOCAL_MODEL_MEDIA,
    MediaSupport,
    ProviderSpec,
    media_support,
)

if TYPE_CHECKING:
    from muxi_cli.config.schema import AgentConfig, Formation
    from muxi_cli.llm.base import LLMProvider
    from muxi_cli.llm.capabilities import Capabilities

#: How long to wait for a local Ollama when looking for a model to use.
OLLAMA_PROBE_TIMEOUT = 0.3


def no_provider_hint() -> str:
    """How to give muxi a model, from the provider table."""
    lines = ["Give muxi a model in one of these ways:"]
    hosted = [s for s in table.specs() if s.key_env and not s.local]
    picked = [s for s in hosted if s.default_model]
    for i, spec in enumerate(picked, 1):
        label = f"{spec.display_name}:".ljust(12)
        command = f"muxi keys set {spec.name}".ljust(28)
        lines.append(f"  {i}. {label}{command} (or: export {spec.key_env}=...)")
    others = [s for s in hosted if not s.default_model]
    n = len(picked) + 1
    if others:
        names = ", ".join(s.name for s in others)
        lines.append(
            f"  {n}. Another service ({names}): muxi keys set <name>, "
            "then use <name>/<model> as the model"
        )
        n += 1
    local = ", ".join(s.display_name for s in table.specs() if s.local)
    lines += [
        f"  {n}. A local OpenAI-compatible server ({local}) - in muxi.yaml:",
        "       default_model: local/llama3.2",
        "       providers:",
        "         local:",
        "           type: openai",
        "           base_url: http://localhost:11434/v1",
        "     (a running Ollama on 127.0.0.1:11434 is also found automatically)",
    ]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how one provider is reached: its wire, base URL and key, found the
    same way for chat models and embedding models (:mod:`muxi_cli.providers.keys`)."""

    name: str
    wire: str
    base_url: str | None
    api_key: str | None
    #: The environment variable its key is read from (for hints).
    env_var: str
    #: A server on this machine (no key needed, free).
    local: bool
    #: Its table entry, or the one its ``preset:`` names.
    spec: ProviderSpec | None
    settings: ProviderConfig

    @property
    def compat(self) -> bool:
        """An OpenAI-compatible server rather than OpenAI's own API."""
        return not (self.spec is not None and self.spec.native) or self.local

    @property
    def needs_key(self) -> bool:
        """Its table entry wants a key and it is reached at the table's own address."""
        spec = self.spec
        return (
            spec is not None
            and spec.name == self.name
            and bool(spec.key_env)
            and self.base_url == spec.base_url
        )


class ProviderRegistry:
    """Resolves model references to configured provider instances (cached per name)."""

    def __init__(self, formation: Formation) -> None:
        self.formation = formation
        self._providers: dict[str, LLMProvider] = {}
        self._ollama_models: list[str] | None = None
        self._ollama_probed = False
        # `model: {provider, model, base_url}` on an agent configures that provider's URL.
        self._agent_urls: dict[str, str] = {}
        for agent in formation.agents:
            model = agent.model
            if model is not None and not isinstance(model, str) and model.base_url:
                self._agent_urls.setdefault(model.provider, model.base_url)

    # -- which model -------------------------------------------------------------

    def model_for(self, agent: AgentConfig | None = None, override: str | None = None) -> str:
        """``provider/model`` for a turn: override, agent, formation default, then auto-detect."""
        for ref in (
            override,
            agent.model_ref if agent is not None else None,
            self.formation.default_model,
        ):
            if ref:
                return self._qualify(ref)
        return self._auto_model()

    def _qualify(self, ref: str) -> str:
        """``ref`` with its provider; a bare model name gets one guessed from its name."""
        if "/" in ref:
            return ref
        lower = ref.lower()
        for spec in table.specs():
            if spec.model_prefixes and lower.startswith(spec.model_prefixes):
                return f"{spec.name}/{ref}"
        if len(self.formation.providers) == 1:
            return f"{next(iter(self.formation.providers))}/{ref}"
        raise ConfigError(
            f"model {ref!r} does not say which provider serves it",
            hint=f"Write it as provider/model, e.g. anthropic/{ref}, openai/{ref} or ollama/{ref}.",
        )

    def _auto_model(self) -> str:
        """A hosted provider whose key is found (table order), else a running Ollama."""
        for spec in table.specs():
            if not (spec.default_model and spec.key_env):
                continue
            if find_key(spec.name, self.formation.providers.get(spec.name))[0]:
                return f"{spec.name}/{spec.default_model}"
        models = self._probe()
        if models:
            return f"ollama/{models[0]}"
        raise NoProviderError(
            "no model provider is configured (no API key, no local server found)",
            no_provider_hint(),
        )

    def _probe(self) -> list[str] | None:
        if not self._ollama_probed:
            found = probe_ollama(OLLAMA_PROBE_TIMEOUT)
            self._ollama_models = found.models if found is not None and found.reachable else None
            self._ollama_probed = True
        return self._ollama_models

    # -- provider objects ----------------------------------------------------------

    def known_providers(self) -> list[str]:
        return list(dict.fromkeys([*table.names(), *self.formation.providers]))

    def resolve(self, model_ref: str) -> tuple[LLMProvider, str]:
        """The provider instance and bare model name for ``provider/model``."""
        ref = self._qualify(model_ref)
        name, model = ref.split("/", 1)
        if not name or not model:
            raise ConfigError(
                f"bad model reference {model_ref!r}", hint="Write it as provider/model."
            )
        provider = self._providers.get(name)
        if provider is None:
            provider = self._build(name)
            self._providers[name] = provider
        return provider, model

    def _config(self, name: str) -> ProviderConfig | None:
        config = self.formation.providers.get(name)
        if name in self._agent_urls and (config is None or not config.base_url):
            data = config.model_dump() if config is not None else {}
            data["base_url"] = self._agent_urls[name]
            config = ProviderConfig.model_validate(data)
        return config

    def _preset(self, name: str, config: ProviderConfig | None) -> ProviderSpec | None:
        """The table entry a ``preset:`` names; a misspelt one is a ConfigError."""
        if config is None or config.preset is None:
            return None
        spec = table.lookup(config.preset)
        if spec is None:
            close = table.closest(config.preset)
            suggestion = f" Did you mean {close!r}?" if close else ""
            raise ConfigError(
                f"providers.{name}.preset: unknown preset {config.preset!r}.{suggestion}",
                hint=f"Known presets: {', '.join(table.names())}.",
            )
        return spec

    def _spec(self, name: str, config: ProviderConfig | None) -> ProviderSpec | None:
        """The table entry for ``name``, else the one its ``preset:`` names."""
        return table.get(name) or self._preset(name, config)

    def _kind(self, name: str, config: ProviderConfig | None) -> str:
        if config is not None and config.type:
            return config.type
        spec = self._spec(name, config)
        if spec is not None:
            return spec.wire
        if config is not None:
            return "openai"
        known = self.known_providers()
        close = table.closest(name)
        suggestion = f" Did you mean {close!r}?" if close else ""
        raise ConfigError(
            f"unknown model provider {name!r}.{suggestion}",
            hint=f"Known providers: {', '.join(known)}. Add others under `providers:` in muxi.yaml "
            f"with `type: openai` (or anthropic) and a base_url.",
        )

    def _base_url(self, name: str, config: ProviderConfig | None) -> str | None:
        found = base_url_for(name, config)
        if found is None:
            preset = self._preset(name, config)
            if preset is not None:
                found = preset.resolved_base_url(os.environ)
        return found

    def endpoint(self, name: str) -> Endpoint:
        """How provider ``name`` is reached (ConfigError for a provider nobody knows)."""
        config = self._config(name)
        kind = self._kind(name, config)
        spec = self._spec(name, config)
        base_url = self._base_url(name, config)
        key, _source = find_key(name, config)
        local = is_local_url(base_url) or (spec is not None and spec.local)
        return Endpoint(
            name=name,
            wire=kind,
            base_url=base_url,
            api_key=key,
            env_var=env_var_for(name, config),
            local=local,
            spec=spec,
            settings=config or ProviderConfig(),
        )

    def _build(self, name: str) -> LLMProvider:
        end = self.endpoint(name)
        kind, spec, settings, base_url = end.wire, end.spec, end.settings, end.base_url
        key, env_var, local = end.api_key, end.env_var, end.local
        if spec is not None and spec.name == name:
            if not key and end.needs_key:
                raise NoProviderError(
                    f"no API key for {name}",
                    hint=f"Run `muxi keys set {name}` or `export {env_var}=...`.",
                )
            if not base_url and not spec.native:
                raise ConfigError(
                    f"provider {name!r} has no base URL",
                    hint=f"Set providers.{name}.base_url in muxi.yaml.",
                )
        common = {
            "api_key": key,
            "base_url": base_url,
            "timeout": settings.timeout,
            "max_retries": settings.max_retries,
            "headers": settings.headers,
            "env_var": env_var,
            "capabilities": self._capabilities(name, kind, settings, spec, local),
            "max_tokens": settings.max_tokens,
        }
        # The SDKs load only when a provider is built: `muxi --help` never pays for them.
        if kind == "anthropic":
            from muxi_cli.llm.anthropic_provider import AnthropicProvider  # deferred: loads asyncio

            return AnthropicProvider(name, **common)  # type: ignore[arg-type]
        from muxi_cli.llm.openai_provider import OpenAIProvider  # deferred: loads asyncio

        return OpenAIProvider(name, compat=end.compat, **common)

    def _capabilities(
        self,
        name: str,
        kind: str,
        settings: ProviderConfig,
        spec: ProviderSpec | None,
        local: bool,
    ) -> Capabilities:
        """The provider's table entry (named, or its own) plus single overrides."""
        preset = self._preset(name, settings)
        if preset is None and spec is not None and not (spec.native and local):
            preset = spec
        if preset is not None:
            chosen = preset.name
        else:
            chosen = "anthropic" if kind == "anthropic" else "openai-compatible"
        caps = capabilities_for(chosen, settings.capabilities.model_dump(exclude_none=True))
        if not local and caps.probe_limits:
            caps = replace(caps, probe_limits=False)  # only local servers are asked
        return caps

    # -- media ---------------------------------------------------------------------

    def media_support(self, model_ref: str) -> MediaSupport:
        """What the model ``provider/model`` takes in media (images, PDFs, audio)
        and its provider's image limits (providers/spec.py, :func:`media_support`)."""
        name, model = self._qualify(model_ref).split("/", 1)
        provider, _ = self.resolve(f"{name}/{model}")
        config = self._config(name)
        settings = config or ProviderConfig()
        spec = self._preset(name, settings) or table.get(name)
        local = self.is_local(name)
        wire = self._kind(name, config)
        anthropic = table.get("anthropic")
        rules = (spec.models if spec is not None else ()) + (LOCAL_MODEL_MEDIA if local else ())
        if spec is not None:
            limits = spec.image_limits
        elif wire == "anthropic" and anthropic is not None:
            limits = anthropic.image_limits
        else:
            limits = LOCAL_IMAGE_LIMITS
        audio = spec.audio_types if spec is not None else frozenset()
        support = media_support(
            getattr(provider, "capabilities", None) or capabilities_for(None),
            model,
            rules=rules,
            limits=limits,
            audio_types=audio or frozenset({"audio/wav", "audio/mpeg"}),
            explicit=settings.capabilities.model_dump(),
            per_model={k: v.model_dump() for k, v in settings.models.items()},
        )
        if wire == "anthropic" and support.audio_in:
            support = replace(support, audio_in=False)  # the Messages API takes no audio
        return support

    # -- costs and status ----------------------------------------------------------

    def is_local(self, provider: str) -> bool:
        spec = table.get(provider)
        if spec is not None and spec.local:
            return True
        config = self._config(provider)
        return is_local_url(self._base_url(provider, config))

    def price(self, model_ref: str, input_tokens: int, output_tokens: int) -> float | None:
        """USD for a call, or ``None`` when the model's price is unknown."""
        price = self.formation.pricing.get(model_ref)
        if price is not None:
            return cost(price.input, price.output, input_tokens, output_tokens)
        builtin = builtin_price(model_ref)
        if builtin is not None:
            return cost(builtin[0], builtin[1], input_tokens, output_tokens)
        provider = model_ref.split("/", 1)[0]
        if "/" in model_ref and self.is_local(provider):
            return 0.0
        return None

    def available(self) -> dict[str, str | None]:
        """Each known provider and where its key comes from (``None``: not usable).

        A local server in the table counts once the formation names it; Ollama
        also when it answers.
        """
        out: dict[str, str | None] = {}
        named = set(referenced_providers(self.formation)) | set(self._agent_urls)
        for name in self.known_providers():
            config = self._config(name)
            spec = table.get(name)
            if spec is not None and spec.local and name not in named:
                out[name] = "local" if name == "ollama" and self._probe() else None
                continue
            _key, source = find_key(name, config)
            if source is None and self.is_local(name):
                source = "local"
            elif (
                source is None
                and config is not None
                and config.base_url
                and not (spec is not None and spec.key_env)
            ):
                source = "config"
            out[name] = source
        return out

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            try:
                await provider.aclose()
            except Exception:
                pass
