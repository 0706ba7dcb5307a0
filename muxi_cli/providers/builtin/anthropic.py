"""Anthropic's Messages API (the ``anthropic`` SDK)."""

from muxi_cli.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="anthropic",
    display_name="Anthropic",
    wire="anthropic",
    key_env="ANTHROPIC_API_KEY",
    base_url_env="ANTHROPIC_BASE_URL",
    native=True,
    capabilities=Capabilities(vision=True, documents=True),
    # Approximate list prices, USD per million tokens (input, output).
    prices={
        "claude-opus-5-5": (5.0, 25.0),
        "claude-sonnet-5-5": (3.0, 15.0),
        "claude-haiku-5-5": (1.0, 5.0),
        "claude-opus-4-5": (5.0, 25.0),
        "claude-sonnet-4-5": (3.0, 15.0),
        "claude-sonnet-4-6": (3.0, 15.0),
        "claude-haiku-4-5": (1.0, 5.0),
    },
    default_model="claude-sonnet-5-5",
    model_prefixes=("claude",),
    hint="Create a key in the Anthropic console.",
    order=10,
)
