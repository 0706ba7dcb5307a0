"""Images: verified, upright, without metadata; fitted to a model's limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from muxi_cli.errors import MediaError
from muxi_cli.media.images import MAX_IMAGE_PIXELS, fit_image
from muxi_cli.media.ingest import normalize

from . import files


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("maker", [files.photo_with_exif, files.png_with_exif])
def test_exif_orientation_applied_and_every_metadata_field_stripped(maker) -> None:  # type: ignore[no-untyped-def]
    original = maker((300, 200))
    assert b"MuxiCam" in original and _open(original).getexif().get_ifd(0x8825)
    out = normalize(original, "holiday." + ("png" if original[:4] == b"\x89PNG" else "jpg"))
    image = _open(out.data)
    # Orientation 6: the 300 x 200 picture is shown 200 x 300; the red corner
    # (top-left as stored) is now top-right.
    assert image.size == (200, 300)
    assert out.meta == {"width": 200, "height": 300}
    red = image.convert("RGB").getpixel((190, 10))
    assert red[0] > 200 and red[1] < 60
    assert not image.getexif()
    assert b"MuxiCam" not in out.data and b"GPS" not in out.data
    for key in ("exif", "icc_profile", "xmp", "comment", "Author", "dpi"):
        assert key not in image.info
    assert out.media_type == Image.MIME[image.format]


def test_a_truncated_png_is_a_clear_error() -> None:
    good = io.BytesIO()
    files.text_image(["truncated"]).save(good, "PNG")
    data = good.getvalue()[: len(good.getvalue()) // 2]
    with pytest.raises(MediaError) as err:
        normalize(data, "shot.png")
    assert err.value.message.startswith("shot.png is a damaged PNG image")
    assert "truncated" in err.value.hint


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    # 20 000 x 20 000 pixels of one colour: a few hundred kB compressed.
    side = 20_000
    assert side * side > MAX_IMAGE_PIXELS
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    with pytest.raises(MediaError, match=r"decompression bomb|megapixels"):
        normalize(out.getvalue(), "bomb.png")


def test_bmp_and_tiff_become_png_gif_stays_gif() -> None:
    for fmt in ("BMP", "TIFF"):
        out = io.BytesIO()
        Image.new("RGB", (40, 30), "green").save(out, fmt)
        clean = normalize(out.getvalue(), f"x.{fmt.lower()}")
        assert clean.media_type == "image/png" and _open(clean.data).size == (40, 30)
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], comment=b"secret")
    clean = normalize(out.getvalue(), "anim.gif")
    assert clean.media_type == "image/gif" and b"secret" not in clean.data
    assert getattr(_open(clean.data), "n_frames", 1) == 3


def test_fit_keeps_what_already_fits() -> None:
    data = files.png((100, 50))
    assert fit_image(data, "image/png", max_bytes=10_000, max_long_edge=200) == (data, "image/png")


def test_fit_resizes_keeping_aspect_and_within_bytes() -> None:
    out = io.BytesIO()
    files.text_image(["a photo"], (4000, 3000)).save(out, "JPEG", quality=95)
    data, kind = fit_image(out.getvalue(), "image/jpeg", max_bytes=200_000, max_long_edge=1568)
    image = _open(data)
    assert kind == "image/jpeg" and image.size == (1568, 1176) and len(data) <= 200_000
    data, kind = fit_image(
        out.getvalue(), "image/jpeg", max_bytes=5_000_000, max_long_edge=8000, max_pixels=1_150_000
    )
    w, h = _open(data).size
    assert w * h <= 1_150_000 and abs(w / h - 4 / 3) < 0.01


def test_fit_reencodes_to_fit_max_bytes() -> None:
    noisy = Image.effect_noise((1200, 900), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    assert len(out.getvalue()) > 1_000_000
    data, kind = fit_image(out.getvalue(), "image/png", max_bytes=150_000, max_long_edge=2000)
    assert len(data) <= 150_000 and kind == "image/jpeg"


def test_fit_converts_types_the_provider_does_not_take_and_keeps_alpha_white() -> None:
    out = io.BytesIO()
    files.text_image(["transparent"], (400, 200), mode="RGBA").save(out, "TIFF")
    data, kind = fit_image(out.getvalue(), "image/tiff", max_bytes=1_000_000, max_long_edge=400)
    assert kind == "image/png" and _open(data).mode == "RGBA"
    # Only JPEG allowed: transparency goes over white, not black.
    data, kind = fit_image(
        out.getvalue(),
        "image/tiff",
        max_bytes=1_000_000,
        max_long_edge=400,
        types=frozenset({"image/jpeg"}),
    )
    assert kind == "image/jpeg"
    assert _open(data).convert("RGB").getpixel((390, 190)) == pytest.approx((255, 255, 255), abs=3)


def test_fit_takes_an_animated_gifs_first_frame() -> None:
    frames = [Image.new("RGB", (50, 50), c) for c in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    data, _kind = fit_image(out.getvalue(), "image/gif", max_bytes=100_000, max_long_edge=100)
    image = _open(data)
    assert not getattr(image, "is_animated", False)
    assert image.convert("RGB").getpixel((25, 25))[0] > 200  # red, the first frame


def test_fit_that_cannot_fit_says_so() -> None:
    noisy = io.BytesIO()
    Image.effect_noise((300, 300), 100).save(noisy, "PNG")
    with pytest.raises(MediaError, match="cannot be made smaller"):
        fit_image(noisy.getvalue(), "image/png", max_bytes=100, max_long_edge=300)


def test_fit_reports_a_damaged_image() -> None:
    good = io.BytesIO()
    files.text_image(["cut"], (800, 600)).save(good, "JPEG")
    with pytest.raises(MediaError, match="damaged"):
        fit_image(good.getvalue()[:3000], "image/jpeg", max_bytes=1000, max_long_edge=100)
