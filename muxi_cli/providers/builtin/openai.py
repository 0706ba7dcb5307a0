"""OpenAI's own API (the ``openai`` SDK with OpenAI's parameters)."""

from muxi_cli.providers.spec import Capabilities, ProviderSpec

SPEC = ProviderSpec(
    name="openai",
    display_name="OpenAI",
    wire="openai",
    key_env="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    native=True,
    capabilities=Capabilities(vision=True, documents=True),
    # Approximate list prices, USD per million tokens (input, output).
    prices={
        "gpt-5.5": (1.25, 10.0),
        "gpt-5.4": (1.25, 10.0),
        "gpt-5.4-mini": (0.25, 2.0),
        "gpt-5.4-nano": (0.05, 0.4),
        "gpt-5": (1.25, 10.0),
        "gpt-5-mini": (0.25, 2.0),
        "gpt-4.1": (2.0, 8.0),
        "gpt-4o": (2.5, 10.0),
        "gpt-4o-mini": (0.15, 0.6),
    },
    default_model="gpt-5.5",
    model_prefixes=("gpt", "o1", "o3", "o4", "chatgpt"),
    hint="Create a key in the OpenAI dashboard.",
    order=20,
)
