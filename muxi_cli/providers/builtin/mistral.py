"""Mistral AI's API (OpenAI-compatible chat completions)."""

from muxi_cli.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="mistral",
    display_name="Mistral AI",
    key_env="MISTRAL_API_KEY",
    base_url="https://api.mistral.ai/v1",
    capabilities=Capabilities(vision=True),
    hint="Create a key in the Mistral console.",
    order=32,
)
