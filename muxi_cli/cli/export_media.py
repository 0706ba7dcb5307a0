"""``muxi sessions export ID --format md -o out.md``: the session's files too.

The Markdown export shows each attachment as a placeholder
(``[image: shot.png, image/png, 70 bytes, 2x3]``). With an output file, the
bytes of every file the session holds are fetched through the runtime
(:meth:`Runtime.get_media`, so a remote session exports the same way) and
written to ``out_files/`` next to ``out.md``; each placeholder becomes a link
(an image is embedded) and an "Attachments" list closes the document.
"""

from __future__ import annotations

import mimetypes
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING
from urllib.parse import quote

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.protocol.messages import MEDIA_PART_TYPES

if TYPE_CHECKING:
    from muxi_cli.protocol.messages import MediaRef
    from muxi_cli.protocol.records import SessionMessage
    from muxi_cli.runtime.base import Runtime

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(slots=True)
class Exported:
    """The Markdown with links, and what happened to each file."""

    text: str
    written: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def files_dir(output: Path) -> Path:
    """``out.md`` -> ``out_files`` beside it."""
    return output.with_name(f"{output.stem}_files")


def file_name(ref: MediaRef, taken: set[str]) -> str:
    """A safe, unique file name for ``ref`` (a stored name may hold ``../``)."""
    base = _UNSAFE.sub("_", PurePath(ref.name or "").name).strip("._") or ref.id[:12]
    if not PurePath(base).suffix:
        base += mimetypes.guess_extension(ref.media_type, strict=False) or ""
    name = base if base not in taken else f"{ref.id[:8]}-{base}"
    taken.add(name)
    return name


async def export_markdown(runtime: Runtime, session_id: str, output: Path) -> Exported:
    """The session as Markdown, its files written to :func:`files_dir` and linked."""
    text = await runtime.export_session(session_id, "md")
    refs = _unique(await runtime.session_media(session_id))
    if not refs:
        return Exported(text)
    folder = files_dir(output)
    result = Exported(text)
    links: dict[str, str] = {}
    taken: set[str] = set()
    for ref in refs:
        try:
            _, data = await runtime.get_media(ref.id)
        except NotFoundError:
            result.missing.append(ref.name or ref.id[:12])
            continue
        name = file_name(ref, taken)
        path = folder / name
        _write_private(path, data)
        result.written.append(path)
        links[ref.id] = f"{quote(folder.name)}/{quote(name)}"
    messages = await runtime.messages(session_id)
    result.text = _link_placeholders(text, messages, links)
    result.text = result.text.rstrip() + "\n" + _attachment_list(refs, links)
    return result


def _unique(refs: list[MediaRef]) -> list[MediaRef]:
    seen: set[str] = set()
    out = []
    for ref in refs:
        if ref.id not in seen:
            seen.add(ref.id)
            out.append(ref)
    return out


def _label(text: str) -> str:
    """Link text that cannot end the link early."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _link_placeholders(text: str, messages: list[SessionMessage], links: dict[str, str]) -> str:
    """Each media placeholder the export shows becomes a link to its file."""
    for msg in messages:
        for part in msg.parts:
            if not isinstance(part, MEDIA_PART_TYPES) or part.media.id not in links:
                continue
            shown = part.placeholder()
            inner = _label(shown[1:-1])
            bang = "!" if part.type == "image" else ""
            text = text.replace(shown, f"{bang}[{inner}]({links[part.media.id]})")
    return text


def _attachment_list(refs: list[MediaRef], links: dict[str, str]) -> str:
    lines = ["", "## Attachments", ""]
    for ref in refs:
        described = _label(ref.describe())
        if ref.id in links:
            lines.append(f"- [{described}]({links[ref.id]})")
        else:
            lines.append(f"- {described} (no longer stored)")
    return "\n".join(lines) + "\n"


def _write_private(path: Path, data: bytes) -> None:
    """Mode 0600, as the export itself: attachments may be private."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}",
            "Choose a path you can write to with -o.",
        ) from None
