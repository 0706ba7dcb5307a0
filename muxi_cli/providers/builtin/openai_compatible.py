"""Any other OpenAI-compatible server: give it a ``base_url`` under ``providers:``."""

from muxi_cli.providers.spec import (
    LOCAL_IMAGE_LIMITS,
    LOCAL_MODEL_MEDIA,
    Capabilities,
    ProviderSpec,
)

SPEC = ProviderSpec(
    name="openai-compatible",
    display_name="Other OpenAI-compatible server",
    # Standard behaviour; its limits are asked for when it runs on this machine.
    capabilities=Capabilities(probe_limits=True),
    models=LOCAL_MODEL_MEDIA,
    image_limits=LOCAL_IMAGE_LIMITS,
    aliases=("compatible",),
    hint="Set providers.<name>.base_url (and preset: openai-compatible) in muxi.yaml.",
    order=90,
)
