"""Which model an agent uses, and the provider object that serves it.

Model references are ``provider/model``; the provider is everything before the
FIRST ``/`` (model names may contain ``/``). Built-in providers: ``anthropic``,
``openai`` and ``ollama`` (an OpenAI-compatible server on 127.0.0.1:11434, or
``$OLLAMA_HOST``); any name under ``providers:`` in the formation is added
(``type: openai`` or ``anthropic`` with a ``base_url``).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from typing import TYPE_CHECKING

from muxi_cli.errors import ConfigError, NoProviderError
from muxi_cli.llm.keys import base_url_for, env_var_for, find_key
from muxi_cli.llm.pricing import builtin_price, cost

if TYPE_CHECKING:
    from muxi_cli.config.schema import AgentConfig, Formation, ProviderConfig
    from muxi_cli.llm.base import LLMProvider
    from muxi_cli.llm.capabilities import Capabilities

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"
DEFAULT_OPENAI_MODEL = "gpt-5.5"
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
OLLAMA_PROBE_TIMEOUT = 0.3
BUILTIN_PROVIDERS = ("anthropic", "openai", "ollama")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"}

NO_PROVIDER_HINT = """\
Give muxi a model in one of these ways:
  1. Anthropic:  muxi keys set anthropic      (or: export ANTHROPIC_API_KEY=...)
  2. OpenAI:     muxi keys set openai         (or: export OPENAI_API_KEY=...)
  3. A local OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio) - in muxi.yaml:
       default_model: local/llama3.2
       providers:
         local:
           type: openai
           base_url: http://localhost:11434/v1
     (a running Ollama on 127.0.0.1:11434 is also found automatically)"""


def ollama_host() -> str:
    """The Ollama base URL (no ``/v1``): ``$OLLAMA_HOST`` or 127.0.0.1:11434."""
    raw = (os.environ.get("OLLAMA_HOST") or "").strip()
    if not raw:
        return OLLAMA_DEFAULT_HOST
    if "://" not in raw:
        raw = "http://" + raw
    parts = urllib.parse.urlsplit(raw)
    host = parts.hostname or "127.0.0.1"
    if host == "0.0.0.0":
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or 11434
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{host}:{port}{path}"


def probe_ollama(timeout: float = OLLAMA_PROBE_TIMEOUT) -> list[str] | None:
    """Model names of a reachable Ollama, or ``None`` (skipped with ``MUXI_NO_OLLAMA_PROBE=1``)."""
    if os.environ.get("MUXI_NO_OLLAMA_PROBE") == "1":
        return None
    import urllib.request

    url = ollama_host() + "/api/tags"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = json.loads(response.read(1_000_000))
    except (OSError, ValueError):
        return None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return None
    return [str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict)]


def is_local_url(url: str | None) -> bool:
    if not url:
        return False
    host = urllib.parse.urlsplit(url if "://" in url else "http://" + url).hostname or ""
    return host in _LOCAL_HOSTS or host.endswith(".localhost")


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
        if lower.startswith("claude"):
            return f"anthropic/{ref}"
        if lower.startswith(("gpt", "o1", "o3", "o4", "chatgpt")):
            return f"openai/{ref}"
        if len(self.formation.providers) == 1:
            return f"{next(iter(self.formation.providers))}/{ref}"
        raise ConfigError(
            f"model {ref!r} does not say which provider serves it",
            hint=f"Write it as provider/model, e.g. anthropic/{ref}, openai/{ref} or ollama/{ref}.",
        )

    def _auto_model(self) -> str:
        if find_key("anthropic", self.formation.providers.get("anthropic"))[0]:
            return f"anthropic/{DEFAULT_ANTHROPIC_MODEL}"
        if find_key("openai", self.formation.providers.get("openai"))[0]:
            return f"openai/{DEFAULT_OPENAI_MODEL}"
        models = self._probe()
        if models:
            return f"ollama/{models[0]}"
        raise NoProviderError(
            "no model provider is configured (no API key, no local server found)", NO_PROVIDER_HINT
        )

    def _probe(self) -> list[str] | None:
        if not self._ollama_probed:
            self._ollama_models = probe_ollama()
            self._ollama_probed = True
        return self._ollama_models

    # -- provider objects ----------------------------------------------------------

    def known_providers(self) -> list[str]:
        return list(dict.fromkeys([*BUILTIN_PROVIDERS, *self.formation.providers]))

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
            from muxi_cli.config.schema import ProviderConfig

            data = config.model_dump() if config is not None else {}
            data["base_url"] = self._agent_urls[name]
            config = ProviderConfig.model_validate(data)
        return config

    def _kind(self, name: str, config: ProviderConfig | None) -> str:
        if config is not None and config.type:
            return config.type
        if name in ("anthropic", "openai"):
            return name
        if name == "ollama" or config is not None:
            return "openai"
        import difflib

        known = self.known_providers()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown model provider {name!r}.{suggestion}",
            hint=f"Known providers: {', '.join(known)}. Add others under `providers:` in muxi.yaml "
            f"with `type: openai` (or anthropic) and a base_url.",
        )

    def _build(self, name: str) -> LLMProvider:
        from muxi_cli.config.schema import ProviderConfig

        config = self._config(name)
        kind = self._kind(name, config)
        settings = config or ProviderConfig()
        base_url = base_url_for(name, config)
        if name == "ollama" and not base_url:
            base_url = ollama_host() + "/v1"
        key, _source = find_key(name, config)
        env_var = env_var_for(name, config)
        local = name == "ollama" or is_local_url(base_url)
        if not key and not base_url and name in ("anthropic", "openai"):
            raise NoProviderError(
                f"no API key for {name}",
                hint=f"Run `muxi keys set {name}` or `export {env_var}=...`.",
            )
        common = {
            "api_key": key,
            "base_url": base_url,
            "timeout": settings.timeout,
            "max_retries": settings.max_retries,
            "headers": settings.headers,
            "env_var": env_var,
            "capabilities": self._capabilities(name, kind, settings, local),
            "max_tokens": settings.max_tokens,
        }
        if kind == "anthropic":
            from muxi_cli.llm.anthropic_provider import AnthropicProvider

            return AnthropicProvider(name, **common)  # type: ignore[arg-type]
        from muxi_cli.llm.openai_provider import OpenAIProvider

        compat = name != "openai" or local
        return OpenAIProvider(name, compat=compat, **common)

    def _capabilities(
        self, name: str, kind: str, settings: ProviderConfig, local: bool
    ) -> Capabilities:
        """The provider's preset (named, or guessed from its name and kind) plus overrides."""
        from dataclasses import replace

        from muxi_cli.llm.capabilities import PRESETS, capabilities_for, preset_name

        if settings.preset is not None:
            preset = preset_name(settings.preset)
            if preset is None:
                import difflib

                close = difflib.get_close_matches(settings.preset.lower(), list(PRESETS), n=1)
                suggestion = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"providers.{name}.preset: unknown preset {settings.preset!r}.{suggestion}",
                    hint=f"Known presets: {', '.join(PRESETS)}.",
                )
        elif name == "ollama":
            preset = "ollama"
        elif kind == "anthropic":
            preset = "anthropic"
        elif name == "openai" and not local:
            preset = "openai"
        else:
            preset = "openai-compatible"
        caps = capabilities_for(preset, settings.capabilities.model_dump(exclude_none=True))
        if not local and caps.probe_limits:
            caps = replace(caps, probe_limits=False)  # only local servers are asked
        return caps

    # -- costs and status ----------------------------------------------------------

    def is_local(self, provider: str) -> bool:
        if provider == "ollama":
            return True
        config = self._config(provider)
        return is_local_url(base_url_for(provider, config))

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
        """Each known provider and where its key comes from (``None``: not usable)."""
        out: dict[str, str | None] = {}
        for name in self.known_providers():
            config = self._config(name)
            if name == "ollama" and config is None:
                out[name] = "local" if self._probe() else None
                continue
            _key, source = find_key(name, config)
            if source is None and self.is_local(name):
                source = "local"
            elif (
                source is None
                and config is not None
                and config.base_url
                and name not in ("anthropic", "openai")
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
