"""Groq's OpenAI-compatible API."""

from muxi_cli.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="groq",
    display_name="Groq",
    key_env="GROQ_API_KEY",
    base_url="https://api.groq.com/openai/v1",
    capabilities=Capabilities(vision=True),
    hint="Create a key in the Groq console.",
    order=31,
)
