"""OpenAI's own API (the ``openai`` SDK with OpenAI's parameters)."""

from muxi_cli.providers.spec import Capabilities, ImageLimits, ModelMedia, ProviderSpec

#: Which OpenAI models see images and read PDFs (``file`` parts), which hear
#: audio (``input_audio``); exceptions first.
MODELS = (
    ModelMedia("gpt-4o*audio*", vision=False, documents=False, audio_in=True),
    ModelMedia("gpt-audio*", vision=False, documents=False, audio_in=True),
    ModelMedia("gpt-4o*realtime*", vision=False, documents=False),
    ModelMedia("gpt-4o*transcribe*", vision=False, documents=False),
    ModelMedia("o1-mini*", vision=False, documents=False),
    ModelMedia("o3-mini*", vision=False, documents=False),
    ModelMedia("gpt-3.5*", vision=False, documents=False),
    ModelMedia("gpt-4o*", vision=True, documents=True),
    ModelMedia("chatgpt-4o*", vision=True, documents=True),
    ModelMedia("gpt-4.1*", vision=True, documents=True),
    ModelMedia("gpt-4.5*", vision=True, documents=True),
    ModelMedia("gpt-4-turbo*", vision=True, documents=True),
    ModelMedia("gpt-4*", vision=False, documents=False),
    ModelMedia("gpt-5*", vision=True, documents=True),
    ModelMedia("o1*", vision=True, documents=True),
    ModelMedia("o3*", vision=True, documents=True),
    ModelMedia("o4*", vision=True, documents=True),
)

#: Images and vision guide: PNG, JPEG, WEBP, non-animated GIF; up to 20 MB per
#: image, 500 images and 50 MB of image bytes per request; "high" detail scales
#: an image to fit 2048x2048, then its short side to 768 px.
LIMITS = ImageLimits(
    max_bytes=20 * 1024 * 1024,
    max_long_edge=2048,
    max_pixels=2048 * 768,
    max_count=500,
    request_bytes=50 * 1024 * 1024,
)

SPEC = ProviderSpec(
    name="openai",
    display_name="OpenAI",
    wire="openai",
    key_env="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    native=True,
    capabilities=Capabilities(vision=True, documents=True),
    models=MODELS,
    image_limits=LIMITS,
    audio_types=frozenset({"audio/wav", "audio/mpeg"}),
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
