"""Ollama's OpenAI-compatible endpoint on this machine (``$OLLAMA_HOST``)."""

from muxi_cli.providers.local import OLLAMA_DEFAULT_HOST, ollama_host
from muxi_cli.providers.spec import (
    LOCAL_IMAGE_LIMITS,
    LOCAL_MODEL_MEDIA,
    Capabilities,
    ProviderSpec,
)


def _base_url() -> str:
    return ollama_host() + "/v1"


SPEC = ProviderSpec(
    name="ollama",
    display_name="Ollama",
    base_url=OLLAMA_DEFAULT_HOST + "/v1",
    base_url_from_env=_base_url,
    local=True,
    # Its OpenAI-compatible endpoint ignores a forced tool_choice.
    capabilities=Capabilities(forced_tool_choice=False, probe_limits=True),
    models=LOCAL_MODEL_MEDIA,
    image_limits=LOCAL_IMAGE_LIMITS,
    hint="Start it with `ollama serve`, then `ollama pull <model>`.",
    order=50,
)
