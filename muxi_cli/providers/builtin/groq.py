"""Groq's OpenAI-compatible API."""

from muxi_cli.providers.spec import Capabilities, ImageLimits, ModelMedia, ProviderSpec

SPEC = ProviderSpec(
    name="groq",
    display_name="Groq",
    key_env="GROQ_API_KEY",
    base_url="https://api.groq.com/openai/v1",
    capabilities=Capabilities(vision=True),
    # Only its Llama 4 and "vision" models see images.
    models=(
        ModelMedia("meta-llama/llama-4*", vision=True),
        ModelMedia("*vision*", vision=True),
        ModelMedia("*", vision=False),
    ),
    # Vision docs: base64 images at most 4 MB per request, 5 images per request.
    image_limits=ImageLimits(
        max_bytes=3 * 1024 * 1024 - 64 * 1024,
        max_long_edge=2048,
        max_pixels=33_000_000,
        max_count=5,
        request_bytes=3 * 1024 * 1024 - 64 * 1024,
    ),
    hint="Create a key in the Groq console.",
    order=31,
)
