"""llama.cpp's own ``llama-server`` (port 8080; ``--jinja`` for tools)."""

from muxi_cli.providers.spec import (
    LOCAL_IMAGE_LIMITS,
    LOCAL_MODEL_MEDIA,
    Capabilities,
    ProviderSpec,
)

SPEC = ProviderSpec(
    name="llama-cpp",
    display_name="llama.cpp server",
    base_url="http://127.0.0.1:8080/v1",
    local=True,
    # Streams tool calls and usage.
    capabilities=Capabilities(probe_limits=True),
    models=LOCAL_MODEL_MEDIA,
    image_limits=LOCAL_IMAGE_LIMITS,
    aliases=("llama.cpp", "llamacpp", "llama-server"),
    hint="Start it with `llama-server -m <model.gguf> --jinja`.",
    order=53,
)
