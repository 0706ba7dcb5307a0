"""LM Studio's local server (OpenAI-compatible endpoints, port 1234)."""

from muxi_cli.providers.spec import (
    LOCAL_IMAGE_LIMITS,
    LOCAL_MODEL_MEDIA,
    Capabilities,
    ProviderSpec,
)

SPEC = ProviderSpec(
    name="lmstudio",
    display_name="LM Studio",
    base_url="http://localhost:1234/v1",
    local=True,
    capabilities=Capabilities(probe_limits=True),
    models=LOCAL_MODEL_MEDIA,
    image_limits=LOCAL_IMAGE_LIMITS,
    aliases=("lm-studio",),
    hint="Start the server in LM Studio's Developer tab, or `lms server start`.",
    order=51,
)
