"""Mistral AI's API (OpenAI-compatible chat completions)."""

from muxi_cli.providers.spec import Capabilities, ImageLimits, ModelMedia, ProviderSpec

SPEC = ProviderSpec(
    name="mistral",
    display_name="Mistral AI",
    key_env="MISTRAL_API_KEY",
    base_url="https://api.mistral.ai/v1",
    capabilities=Capabilities(vision=True),
    # Pixtral and the Small/Medium 3.x models see images; Codestral and the
    # Ministral models do not.
    models=(
        ModelMedia("codestral*", vision=False),
        ModelMedia("ministral*", vision=False),
        ModelMedia("open-mistral*", vision=False),
    ),
    # Vision docs: up to 10 MB per image and 8 images per request.
    image_limits=ImageLimits(max_bytes=10 * 1024 * 1024, max_long_edge=1540, max_count=8),
    hint="Create a key in the Mistral console.",
    order=32,
)
