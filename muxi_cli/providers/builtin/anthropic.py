"""Anthropic's Messages API (the ``anthropic`` SDK)."""

from muxi_cli.providers.spec import Capabilities, ImageLimits, ModelMedia, ProviderSpec

#: Claude 3 and later see images and read PDFs; the older ones neither.
MODELS = (
    ModelMedia("claude-2*", vision=False, documents=False),
    ModelMedia("claude-instant*", vision=False, documents=False),
)

#: Vision docs: 5 MB per image (of base64 text, so 3.75 MiB of bytes), at most
#: 8000x8000 px (2000x2000 with more than 20 images), 100 images and 32 MB per
#: request; images over 1568 px on the long edge or ~1.15 megapixels are scaled
#: down by the API, so sending more only costs time. PDFs: 100 pages per request.
LIMITS = ImageLimits(
    max_bytes=5 * 1024 * 1024 * 3 // 4,
    max_long_edge=1568,
    max_pixels=1_150_000,
    max_count=100,
    request_bytes=24 * 1024 * 1024,
    max_pdf_pages=100,
)

SPEC = ProviderSpec(
    name="anthropic",
    display_name="Anthropic",
    wire="anthropic",
    key_env="ANTHROPIC_API_KEY",
    base_url_env="ANTHROPIC_BASE_URL",
    native=True,
    capabilities=Capabilities(vision=True, documents=True),
    models=MODELS,
    image_limits=LIMITS,
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
