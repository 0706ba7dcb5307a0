"""``memory.embedding: <provider>/<model>``: an embedding model behind any provider of
the table (or of the formation's ``providers:``) that speaks the openai wire.

The provider is reached exactly as a chat model on it would be (its base URL and
key from the formation, the environment or the keyring: :meth:`ProviderRegistry.endpoint`),
and asked at ``/v1/embeddings``: OpenAI, Ollama, llama.cpp (``--embeddings``), LM
Studio, vLLM or any other OpenAI-compatible server. Servers on this machine need no key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from muxi_cli.errors import ConfigError
from muxi_cli.memory.embeddings import OpenAIEmbedder
from muxi_cli.providers import table

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation

#: Fallback timeout (seconds) of an embedding call when no formation is given.
DEFAULT_TIMEOUT = 60.0


def openai_wire_providers(formation: Formation | None) -> list[str]:
    """Every provider an embedding model may name (see ``Formation.embedding_providers``)."""
    from muxi_cli.config.schema import Formation  # deferred: pydantic is slow to import

    return (formation or Formation()).embedding_providers()


def choices(formation: Formation | None) -> str:
    return (
        "use 'local' (the offline MiniLM, the default) or '<provider>/<model>' with a provider "
        f"that serves /v1/embeddings: {', '.join(openai_wire_providers(formation))} "
        "(e.g. openai/text-embedding-3-small, ollama/nomic-embed-text)"
    )


def remote_embedder(value: str, formation: Formation | None) -> OpenAIEmbedder:
    """The embedder for ``<provider>/<model>`` (ConfigError naming the valid choices)."""
    from muxi_cli.config.schema import Formation  # deferred: pydantic is slow to import
    from muxi_cli.llm.registry import ProviderRegistry  # deferred: only remote embedders need it

    provider, _, model = value.partition("/")
    if not provider or not model:
        raise ConfigError(
            f"unknown embedding model {value!r} in memory.embedding", choices(formation)
        )
    form = formation or Formation()
    if provider not in openai_wire_providers(form):
        known = table.get(provider) is not None or provider in form.providers
        why = "speaks no /v1/embeddings (openai wire)" if known else "is not a known provider"
        raise ConfigError(f"memory.embedding {value!r}: provider {provider!r} {why}", choices(form))
    end = ProviderRegistry(form).endpoint(provider)
    if not end.base_url and not (end.spec is not None and end.spec.native):
        raise ConfigError(
            f"memory.embedding {value!r}: provider {provider!r} has no base URL",
            f"set providers.{provider}.base_url in muxi.yaml",
        )
    return OpenAIEmbedder(
        model,
        api_key=end.api_key,
        base_url=end.base_url,
        timeout=end.settings.timeout if provider in form.providers else DEFAULT_TIMEOUT,
        provider=provider,
        env_var=end.env_var,
        headers=end.settings.headers,
        needs_key=end.needs_key and not end.local,
        compat=end.compat,
    )
