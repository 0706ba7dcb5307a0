"""Speech to text and text to speech over a provider's OpenAI-compatible audio API.

``POST /v1/audio/transcriptions`` (multipart: ``model`` and ``file``) and
``POST /v1/audio/speech`` (JSON ``{model, input, voice, response_format}``,
audio bytes back), through the same ``openai`` SDK client, key, base URL,
retries and error translation as the chat calls of that provider. Hosted
OpenAI and local servers (vLLM, LocalAI, speaches, ...) speak this format.

Which model does what comes from the formation's ``audio:`` section
(``audio.transcribe``, ``audio.speech``, ``audio.voice``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from muxi_cli.errors import ConfigError
from muxi_cli.llm.common import deadline_for, open_with_retries

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation
    from muxi_cli.llm.openai_provider import OpenAIProvider
    from muxi_cli.llm.registry import ProviderRegistry

#: The file types ``/v1/audio/transcriptions`` takes, by media type, with the
#: file name extension the API uses to tell them apart.
API_AUDIO_TYPES: dict[str, str] = {
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/m4a": "m4a",
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/webm": "webm",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/mpeg": "mpeg",
}
#: Largest file the hosted API takes (25 MB); larger audio is re-encoded smaller first.
API_MAX_AUDIO_BYTES = 25 * 1024 * 1024
#: What ``/v1/audio/speech`` can answer, and the media type of each.
SPEECH_FORMATS: dict[str, str] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}
DEFAULT_VOICE = "alloy"
#: Longest input one ``/v1/audio/speech`` call takes (characters).
SPEECH_MAX_CHARS = 4096

TRANSCRIBE_HINT = (
    "Name a speech-to-text model in muxi.yaml, e.g.\n"
    "  audio:\n"
    "    transcribe: openai/whisper-1\n"
    "(any OpenAI-compatible server with /v1/audio/transcriptions works: "
    "add it under `providers:` with a base_url)"
)


class APITranscriber:
    """A :class:`~muxi_cli.media.types.Transcriber` over ``/v1/audio/transcriptions``."""

    def __init__(self, provider: OpenAIProvider, model: str, language: str | None = None) -> None:
        self.provider = provider
        self.model = model
        self.language = language

    async def transcribe(self, data: bytes, media_type: str, name: str | None = None) -> str:
        ext = API_AUDIO_TYPES.get(media_type.split(";")[0].strip().lower())
        if ext is None:
            raise ConfigError(
                f"the transcription API does not take {media_type}",
                hint="convert it first (muxi_cli.media.av.transcribe does)",
            )
        # The API tells formats apart by the file name's extension.
        stem = (name or "audio").rsplit("/", 1)[-1].rsplit(".", 1)[0] or "audio"
        params: dict[str, Any] = {
            "model": self.model,
            "file": (f"{stem}.{ext}", data, media_type),
            "response_format": "json",
        }
        if self.language:
            params["language"] = self.language
        result = await _call(
            self.provider, self.model, lambda c: c.audio.transcriptions.create(**params)
        )
        text = getattr(result, "text", result)
        return str(text or "").strip()


class APISpeaker:
    """Text to speech over ``/v1/audio/speech`` (see :mod:`muxi_cli.media.speech`)."""

    #: Longest text one call takes; :func:`muxi_cli.media.speech.synthesize` chunks longer.
    max_chars = SPEECH_MAX_CHARS

    def __init__(self, provider: OpenAIProvider, model: str, voice: str | None = None) -> None:
        self.provider = provider
        self.model = model
        self.voice = voice or DEFAULT_VOICE

    async def speak(self, text: str, *, voice: str | None = None, fmt: str = "mp3") -> bytes:
        if fmt not in SPEECH_FORMATS:
            raise ConfigError(
                f"unknown speech format {fmt!r}", hint=f"use one of {', '.join(SPEECH_FORMATS)}"
            )
        params = {
            "model": self.model,
            "input": text,
            "voice": voice or self.voice,
            "response_format": fmt,
        }
        response = await _call(self.provider, self.model, lambda c: c.audio.speech.create(**params))
        return bytes(response.content)


async def _call(provider: OpenAIProvider, model: str, start: Any) -> Any:
    """One audio call with the provider's retries, deadline and error translation."""
    client = provider._get_client()
    return await open_with_retries(
        lambda: start(client),
        provider.retry,
        provider._context_for(model),
        deadline_for(provider.timeout),
    )


def _audio_provider(models: ProviderRegistry, ref: str, setting: str) -> tuple[OpenAIProvider, str]:
    from muxi_cli.llm.openai_provider import OpenAIProvider  # deferred: loads the provider code

    provider, model = models.resolve(ref)
    if not isinstance(provider, OpenAIProvider):
        raise ConfigError(
            f"{setting}: {ref!r} is not served over an OpenAI-compatible API "
            "(the audio endpoints are /v1/audio/transcriptions and /v1/audio/speech)",
            hint=f"set {setting} to an OpenAI-compatible provider's model, e.g. openai/whisper-1",
        )
    return provider, model


def transcriber_for(formation: Formation, models: ProviderRegistry) -> APITranscriber:
    """The formation's transcriber (``audio.transcribe``); unset: a
    ``ConfigError`` naming the setting."""
    found = maybe_transcriber(formation, models)
    if found is None:
        raise ConfigError(
            "no speech-to-text model is configured (audio.transcribe)", TRANSCRIBE_HINT
        )
    return found


def maybe_transcriber(formation: Formation, models: ProviderRegistry) -> APITranscriber | None:
    """The formation's transcriber, or ``None`` when ``audio.transcribe`` is unset
    (a video's frames are still used; an audio file then fails with the hint)."""
    ref = formation.audio.transcribe
    if not ref:
        return None
    provider, model = _audio_provider(models, ref, "audio.transcribe")
    return APITranscriber(provider, model, formation.audio.language)


def speaker_for(formation: Formation, models: ProviderRegistry) -> APISpeaker | None:
    """The formation's speech model (``audio.speech``); ``None``: the offline fallback."""
    ref = formation.audio.speech
    if not ref:
        return None
    provider, model = _audio_provider(models, ref, "audio.speech")
    return APISpeaker(provider, model, formation.audio.voice)
