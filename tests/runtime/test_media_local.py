"""LocalRuntime.put_media / get_media / session_media with the real store and ingest."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from muxi_cli.errors import MediaError, MediaTooLargeError, NotFoundError
from muxi_cli.protocol.records import Attachment, ChatRequest
from muxi_cli.runtime.local import LocalRuntime
from tests.cli.test_chat_attach import VISION_MODEL
from tests.fakellm import FakeLLM, Text


@pytest.fixture
async def runtime(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    path = fake_llm.write_formation(tmp_path, model=VISION_MODEL)
    rt = await LocalRuntime.open(config_path=path, start_tools=False, user_id="ada")
    try:
        yield rt
    finally:
        await rt.aclose()


def _photo_with_gps() -> bytes:
    """A JPEG 40x20 stored rotated (EXIF orientation 6) with a GPS position."""
    from PIL import Image

    image = Image.new("RGB", (40, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to show
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _stored(runtime: LocalRuntime) -> list[Path]:
    root = Path(runtime.store.path).parent / "media"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_put_cleans_the_image_and_get_returns_it(runtime: LocalRuntime) -> None:
    from PIL import Image

    ref = await runtime.put_media(_photo_with_gps(), name="photo.jpg")
    assert ref.media_type == "image/jpeg" and ref.name == "photo.jpg"
    assert ref.meta == {"width": 20, "height": 40}  # the orientation is applied
    got, data = await runtime.get_media(ref.id)
    assert got.id == ref.id and got.size == len(data) == ref.size
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (20, 40)
        exif = image.getexif()
        assert 0x8825 not in exif and 0x0112 not in exif  # no GPS, nothing left to rotate


async def test_another_users_media_is_not_found(runtime: LocalRuntime) -> None:
    ref = await runtime.put_media(_photo_with_gps(), name="photo.jpg", user_id="ada")
    with pytest.raises(NotFoundError):
        await runtime.get_media(ref.id, user_id="bob")


async def test_bad_input_raises_and_stores_nothing(runtime: LocalRuntime) -> None:
    with pytest.raises(MediaError):
        await runtime.put_media(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, name="cut.png")
    with pytest.raises(MediaError):  # the claim disagrees with the bytes
        await runtime.put_media(_photo_with_gps(), name="x.pdf", media_type="application/pdf")
    with pytest.raises(MediaTooLargeError):
        await runtime.put_media(b"x" * (runtime.media_max_bytes + 1), name="big.bin")
    assert _stored(runtime) == []


async def test_session_media_lists_a_sessions_files_in_order(
    runtime: LocalRuntime, fake_llm: FakeLLM
) -> None:
    first = await runtime.put_media(_photo_with_gps(), name="photo.jpg")
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    second = await runtime.put_media(out.getvalue(), name="dot.png")
    fake_llm.script(Text("two pictures"))
    request = ChatRequest(
        message="what are these?",
        attachments=[
            Attachment(name=r.name or "", mime=r.media_type, media_id=r.id) for r in (first, second)
        ],
    )
    async with await runtime.chat(request) as turn:
        async for _ in turn.events():
            pass
    media = await runtime.session_media(turn.session_id)
    assert [m.id for m in media] == [first.id, second.id]
    assert [m.name for m in media] == ["photo.jpg", "dot.png"]
    with pytest.raises(NotFoundError):  # not bob's session
        await runtime.session_media(turn.session_id, user_id="bob")
