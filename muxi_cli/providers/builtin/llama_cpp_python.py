"""``python -m llama_cpp.server`` (llama-cpp-python, port 8000)."""

from muxi_cli.providers.spec import (
    LOCAL_IMAGE_LIMITS,
    LOCAL_MODEL_MEDIA,
    Capabilities,
    ProviderSpec,
)

SPEC = ProviderSpec(
    name="llama-cpp-python",
    display_name="llama-cpp-python server",
    base_url="http://localhost:8000/v1",
    local=True,
    # Tools only non-streamed and with an explicit "auto"; no usage while streaming.
    capabilities=Capabilities(
        stream_tools=False, explicit_auto=True, stream_usage=False, probe_limits=True
    ),
    models=LOCAL_MODEL_MEDIA,
    image_limits=LOCAL_IMAGE_LIMITS,
    aliases=("llama_cpp_python",),
    hint="Start it with `python -m llama_cpp.server --model <model.gguf>`.",
    order=54,
)
