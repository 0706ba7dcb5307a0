"""vLLM's OpenAI-compatible server (``vllm serve``, port 8000)."""

from muxi_cli.providers.spec import (
    LOCAL_IMAGE_LIMITS,
    LOCAL_MODEL_MEDIA,
    Capabilities,
    ProviderSpec,
)

SPEC = ProviderSpec(
    name="vllm",
    display_name="vLLM",
    base_url="http://localhost:8000/v1",
    local=True,
    # Tools need --enable-auto-tool-choice and a tool parser on the server.
    capabilities=Capabilities(probe_limits=True),
    models=LOCAL_MODEL_MEDIA,
    image_limits=LOCAL_IMAGE_LIMITS,
    hint="Start it with `vllm serve <model>` (add --enable-auto-tool-choice for tools).",
    order=52,
)
