"""OpenRouter: many vendors' models behind one OpenAI-compatible API."""

from muxi_cli.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="openrouter",
    display_name="OpenRouter",
    key_env="OPENROUTER_API_KEY",
    base_url="https://openrouter.ai/api/v1",
    capabilities=Capabilities(vision=True),
    hint="Create a key in your OpenRouter account settings.",
    order=30,
)
