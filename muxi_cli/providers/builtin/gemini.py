"""Google Gemini through its OpenAI-compatible endpoint."""

from muxi_cli.providers.spec import Capabilities, ImageLimits, ProviderSpec

SPEC = ProviderSpec(
    name="gemini",
    display_name="Google Gemini",
    key_env="GEMINI_API_KEY",
    base_url="https://generativelanguage.googleapis.com/v1beta/openai",
    capabilities=Capabilities(vision=True, audio_in=True),
    # Inline data: a request of at most 20 MB; images are tiled at 768 px, and
    # larger ones scaled to 3072 px.
    image_limits=ImageLimits(
        max_bytes=7 * 1024 * 1024,
        max_long_edge=3072,
        max_count=1000,
        request_bytes=14 * 1024 * 1024,
    ),
    audio_types=frozenset({"audio/wav", "audio/mpeg"}),
    aliases=("google",),
    hint="Create a key in Google AI Studio.",
    order=34,
)
