"""Google Gemini through its OpenAI-compatible endpoint."""

from muxi_cli.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="gemini",
    display_name="Google Gemini",
    key_env="GEMINI_API_KEY",
    base_url="https://generativelanguage.googleapis.com/v1beta/openai",
    capabilities=Capabilities(vision=True, audio_in=True),
    aliases=("google",),
    hint="Create a key in Google AI Studio.",
    order=34,
)
