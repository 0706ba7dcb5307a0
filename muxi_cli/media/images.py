"""Images: verified and cleaned on the way in, fitted to a model's limits on the way out.

``clean_image`` decodes every pixel (a truncated file fails here, not at the
provider), applies the EXIF orientation, converts a colour profile to sRGB
and writes the pixels again with no metadata at all (EXIF, GPS, XMP, ICC,
comments, text chunks). ``fit_image`` resizes and re-encodes to a provider's
size, pixel and type limits, keeping the aspect ratio.

Both refuse images over ``MAX_IMAGE_PIXELS`` before decoding (a 50 kB PNG
can declare 100 000 x 100 000 pixels): Pillow only warns below twice its own
limit, and a warning is no refusal.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

from muxi_cli.errors import MediaError
from muxi_cli.media.sniff import label
from muxi_cli.media.types import Normalized

if TYPE_CHECKING:
    from PIL.Image import Image

#: Pillow's own default (about 89 megapixels: a 12 000 x 7 500 panorama passes).
MAX_IMAGE_PIXELS = 89_478_485
#: All frames of an animation together, and how many frames.
MAX_FRAMES = 1000
#: What most vision APIs take (Anthropic, OpenAI, Gemini): the default of ``fit_image``.
PROVIDER_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
#: Animation timing survives cleaning; every other ``info`` key is metadata.
_KEEP_INFO = ("transparency", "duration", "loop", "background", "disposal")
_LOSSY_QUALITIES = (85, 72, 60, 45)
_MIN_EDGE = 32


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # HEIC then fails with the hint to convert it
        return
    register_heif_opener()


def open_image(data: bytes, media_type: str, who: str, *, load: bool = True) -> Image:
    """The decoded image; a :class:`MediaError` for a damaged file or a bomb."""
    from PIL import Image, UnidentifiedImageError  # deferred: Pillow

    if media_type in ("image/heic", "image/avif"):
        _register_heif()
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        frames = getattr(image, "n_frames", 1) if getattr(image, "is_animated", False) else 1
        if width * height * frames > MAX_IMAGE_PIXELS or frames > MAX_FRAMES:
            raise MediaError(
                f"{who} is {width} x {height} pixels"
                + (f" in {frames} frames" if frames > 1 else "")
                + f", over the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels",
                "this looks like a decompression bomb; scale the image down first",
            )
        if load:
            image.load()
        return image
    except MediaError:
        raise
    except UnidentifiedImageError as exc:
        kind = label(media_type)
        raise MediaError(
            f"{who} is {kind} that cannot be decoded here",
            "export it as PNG or JPEG and attach that",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise MediaError(
            f"{who} is a damaged {label(media_type).split(' ', 1)[1]} ({exc})",
            "the file is truncated or corrupt: copy it again from its source",
        ) from exc
    except Exception as exc:  # Pillow's plugins raise others on odd files (TypeError, ...)
        raise MediaError(
            f"{who} is a damaged {label(media_type).split(' ', 1)[1]} "
            f"({type(exc).__name__}: {exc})",
            "the file is truncated or corrupt: copy it again from its source",
        ) from exc


def _has_alpha(image: Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _to_srgb(image: Image) -> Image:
    """The pixels in sRGB when the image carries another colour profile."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        from PIL import ImageCms  # deferred: littlecms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode
        )
    except Exception:  # an unreadable profile: the pixels as they are beat no image
        return image
    return converted if converted is not None else image


def _strip(image: Image) -> Image:
    image.info = {k: v for k, v in image.info.items() if k in _KEEP_INFO}
    return image


def _flatten(image: Image, mode: str = "RGB") -> Image:
    """Transparent pixels over white (JPEG has no alpha; black would hide dark text)."""
    from PIL import Image as PILImage  # deferred: Pillow

    if not _has_alpha(image):
        return image.convert(mode)
    rgba = image.convert("RGBA")
    flat = PILImage.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat.convert(mode)


def _encode(image: Image, fmt: str, quality: int | None = None, **extra: object) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image = _flatten(image) if image.mode not in ("RGB", "L") else image
        image.save(out, "JPEG", quality=quality or 90, optimize=True, **extra)
    elif fmt == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.save(out, "WEBP", quality=quality or 90, **extra)
    elif fmt == "GIF":
        image.save(out, "GIF", **extra)
    else:
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.save(out, "PNG", **extra)
    return out.getvalue()


def clean_image(data: bytes, media_type: str, who: str = "the image") -> Normalized:
    """Verified, upright, sRGB, without metadata; ``meta`` width and height.

    PNG, JPEG, GIF and WebP keep their format (animations keep their frames);
    other formats become PNG (lossless sources, or with transparency) or JPEG.
    """
    from PIL import ImageOps  # deferred: Pillow

    image = open_image(data, media_type, who)
    fmt = _FORMATS.get(media_type)
    if getattr(image, "is_animated", False) and fmt in ("GIF", "WEBP"):
        _strip(image)
        out = _encode(image, fmt, save_all=True)
        return Normalized(out, media_type, {"width": image.width, "height": image.height})
    # In place: without an orientation tag exif_transpose would return a full
    # copy (another 350 MB for a 9400 x 9400 RGBA image).
    ImageOps.exif_transpose(image, in_place=True)
    upright = _strip(_to_srgb(image))
    if upright.mode == "CMYK":
        upright = upright.convert("RGB")
    if fmt is None:
        lossless = media_type in ("image/tiff", "image/bmp")
        fmt = "PNG" if lossless or _has_alpha(upright) else "JPEG"
    new_type = next(t for t, f in _FORMATS.items() if f == fmt)
    meta: dict[str, int | float] = {"width": upright.width, "height": upright.height}
    return Normalized(_encode(upright, fmt), new_type, meta)


def _candidates(media_type: str, alpha: bool, types: frozenset[str]) -> list[str]:
    order = ["image/png", "image/webp", "image/jpeg"] if alpha else ["image/jpeg", "image/webp"]
    order += ["image/png"]
    if media_type in _FORMATS and media_type != "image/gif":
        order.insert(0, media_type)
    elif media_type == "image/gif":
        order.insert(0, "image/png")  # a GIF's first frame, losslessly
    seen = []
    for t in order:
        if t in types and t not in seen:
            seen.append(t)
    return seen


def fit_image(
    data: bytes,
    media_type: str,
    *,
    max_bytes: int,
    max_long_edge: int,
    max_pixels: int | None = None,
    types: frozenset[str] = PROVIDER_TYPES,
) -> tuple[bytes, str]:
    """``(bytes, media type)`` within the limits: scaled down (aspect kept),
    converted to a type in ``types``, re-encoded until it fits ``max_bytes``.
    An animation becomes its first frame. Unchanged when it already fits."""
    from PIL import Image  # deferred: Pillow

    image = open_image(data, media_type, "the image", load=False)
    width, height = image.size
    animated = bool(getattr(image, "is_animated", False))
    scale = min(1.0, max_long_edge / max(width, height))
    if max_pixels:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    if media_type in types and scale >= 1.0 and len(data) <= max_bytes and not animated:
        return data, media_type
    if animated:
        image.seek(0)
    if image.format == "JPEG" and scale < 0.5:
        # Decode at a power-of-two fraction straight from the DCT: a 12 MP
        # photo then costs a quarter of the time and memory.
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    alpha = _has_alpha(image)
    try:
        image = image.convert("RGBA" if alpha else "RGB")
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError(f"the image is damaged ({exc})", "attach it again") from exc
    formats = _candidates(media_type, alpha, types)
    if not formats:
        raise MediaError(f"no image type to send: the model takes none of {sorted(types)}")
    size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    while True:
        frame = image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)
        for target in formats:
            fmt = _FORMATS[target]
            qualities = _LOSSY_QUALITIES if fmt in ("JPEG", "WEBP") else (None,)
            for quality in qualities:
                out = _encode(frame, fmt, quality)
                if len(out) <= max_bytes:
                    return out, target
        if min(size) <= _MIN_EDGE:
            raise MediaError(
                f"the image cannot be made smaller than {max_bytes:,} bytes",
                "send a smaller image",
            )
        size = (max(1, math.floor(size[0] * 0.75)), max(1, math.floor(size[1] * 0.75)))
