"""DeepSeek's OpenAI-compatible API."""

from muxi_cli.providers.spec import ProviderSpec

SPEC = ProviderSpec(
    name="deepseek",
    display_name="DeepSeek",
    key_env="DEEPSEEK_API_KEY",
    # DeepSeek documents both the bare host and /v1 for OpenAI clients.
    base_url="https://api.deepseek.com/v1",
    hint="Create a key on the DeepSeek platform.",
    order=33,
)
