"""The message model: a message's content is a list of typed parts.

A part is text, an image, a document, audio, video, a tool call or a tool
result (a tool result holds parts of its own: text, images, documents, audio). Parts that carry bytes
hold a :class:`MediaRef` (the media store's id, media type and size), never
the bytes, so a session database or a JSON response never holds base64.

Every part round-trips through ``to_dict``/:func:`part_from_dict`; the
``type`` key says which part it is. This is the ground floor
(docs/architecture.md, section 1): it imports nothing else of muxi.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar


class PartError(ValueError):
    """A part's JSON is not one this muxi understands."""


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Stored bytes: ``id`` is the media store's key (the bytes' sha256)."""

    id: str
    media_type: str
    size: int
    name: str | None = None
    #: What is known of the content: ``width``/``height`` (pixels), ``pages``,
    #: ``duration`` (seconds). Left out of the JSON when empty.
    meta: dict[str, int | float] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "media_type": self.media_type, "size": self.size}
        if self.name is not None:
            out["name"] = self.name
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaRef:
        try:
            name = data.get("name")
            meta = data.get("meta")
            return cls(
                id=str(data["id"]),
                media_type=str(data["media_type"]),
                size=int(data["size"]),
                name=None if name is None else str(name),
                meta={
                    str(k): v
                    for k, v in (meta.items() if isinstance(meta, dict) else ())
                    if isinstance(v, int | float) and not isinstance(v, bool)
                },
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PartError(f"a media reference needs id, media_type and size: {data!r}") from exc

    def describe(self) -> str:
        """``name, media/type, N bytes[, WxH][, N pages][, Ns]`` for placeholders."""
        label = f"{self.name}, " if self.name else ""
        extra = ""
        if "width" in self.meta and "height" in self.meta:
            extra += f", {int(self.meta['width'])}x{int(self.meta['height'])}"
        if "pages" in self.meta:
            extra += f", {int(self.meta['pages'])} pages"
        if "duration" in self.meta:
            extra += f", {float(self.meta['duration']):.1f} s"
        return f"{label}{self.media_type}, {self.size} bytes{extra}"


@dataclass(frozen=True, slots=True)
class TextPart:
    type: ClassVar[str] = "text"
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextPart:
        return cls(text=str(data.get("text") or ""))


@dataclass(frozen=True, slots=True)
class _MediaPart:
    type: ClassVar[str] = ""
    media: MediaRef

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "media": self.media.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        media = data.get("media")
        if not isinstance(media, dict):
            raise PartError(f"a {cls.type} part needs a media reference: {data!r}")
        return cls(media=MediaRef.from_dict(media))

    def placeholder(self) -> str:
        """What a text-only front end shows instead of the bytes."""
        return f"[{self.type}: {self.media.describe()}]"


@dataclass(frozen=True, slots=True)
class ImagePart(_MediaPart):
    type: ClassVar[str] = "image"


@dataclass(frozen=True, slots=True)
class DocumentPart(_MediaPart):
    type: ClassVar[str] = "document"


@dataclass(frozen=True, slots=True)
class AudioPart(_MediaPart):
    type: ClassVar[str] = "audio"


@dataclass(frozen=True, slots=True)
class VideoPart(_MediaPart):
    type: ClassVar[str] = "video"


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    type: ClassVar[str] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCallPart:
        args = data.get("arguments")
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or ""),
            arguments=dict(args) if isinstance(args, dict) else {},
        )


#: What a tool result may hold (an MCP tool's images, and the embedded
#: resources it returns: documents, audio).
ResultPart = TextPart | ImagePart | DocumentPart | AudioPart


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    type: ClassVar[str] = "tool_result"
    call_id: str
    parts: tuple[ResultPart, ...] = ()
    is_error: bool = False

    @property
    def text(self) -> str:
        return text_of(self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "call_id": self.call_id,
            "parts": [p.to_dict() for p in self.parts],
            "is_error": self.is_error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolResultPart:
        inner = tuple(parts_from_list(data.get("parts") or []))
        bad = [
            p.type
            for p in inner
            if not isinstance(p, TextPart | ImagePart | DocumentPart | AudioPart)
        ]
        if bad:
            raise PartError(f"a tool result may hold text and media, not {bad[0]}")
        return cls(
            call_id=str(data.get("call_id") or ""),
            parts=inner,  # type: ignore[arg-type]  # checked just above
            is_error=bool(data.get("is_error", False)),
        )


Part = TextPart | ImagePart | DocumentPart | AudioPart | VideoPart | ToolCallPart | ToolResultPart
MediaPart = ImagePart | DocumentPart | AudioPart | VideoPart
MEDIA_PART_TYPES = (ImagePart, DocumentPart, AudioPart, VideoPart)

PART_TYPES: dict[str, type[Any]] = {
    cls.type: cls
    for cls in (
        TextPart, ImagePart, DocumentPart, AudioPart, VideoPart, ToolCallPart, ToolResultPart
    )
}  # fmt: skip


def part_from_dict(data: Any) -> Part:
    """One part from its JSON; :class:`PartError` for anything else."""
    if not isinstance(data, dict):
        raise PartError(f"a part must be a JSON object, not {type(data).__name__}")
    cls = PART_TYPES.get(str(data.get("type")))
    if cls is None:
        raise PartError(
            f"unknown part type {data.get('type')!r}; known: {', '.join(sorted(PART_TYPES))}"
        )
    part: Part = cls.from_dict(data)
    return part


def parts_from_list(items: Iterable[Any], *, lenient: bool = False) -> list[Part]:
    """Parts from their JSON. ``lenient`` skips parts this muxi does not know
    (a newer server's), where the message's text is still worth reading."""
    out: list[Part] = []
    for item in items:
        try:
            out.append(part_from_dict(item))
        except PartError:
            if not lenient:
                raise
    return out


def parts_to_list(parts: Iterable[Part]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in parts]


def text_of(parts: Iterable[Part], *, placeholders: bool = False) -> str:
    """The text of ``parts``, paragraphs joined by a blank line, for front
    ends that only show text.

    With ``placeholders``, media parts show as ``[image: name, type, N bytes]``
    (tool results included); tool calls never add text.
    """
    out: list[str] = []
    for part in parts:
        if isinstance(part, TextPart):
            out.append(part.text)
        elif isinstance(part, ToolResultPart):
            inner = text_of(part.parts, placeholders=placeholders)
            if inner:
                out.append(inner)
        elif placeholders and isinstance(part, MEDIA_PART_TYPES):
            out.append(part.placeholder())
    return "\n\n".join(s for s in out if s)


def media_of(parts: Iterable[Part]) -> list[MediaPart]:
    """Every media part, those inside tool results included."""
    out: list[MediaPart] = []
    for part in parts:
        if isinstance(part, MEDIA_PART_TYPES):
            out.append(part)
        elif isinstance(part, ToolResultPart):
            out += [p for p in part.parts if isinstance(p, MEDIA_PART_TYPES)]
    return out


def legacy_parts(
    role: str,
    content: str,
    tool_calls: Iterable[dict[str, Any]] = (),
    tool_call_id: str | None = None,
    *,
    is_error: bool = False,
) -> list[Part]:
    """The parts of a message stored before parts existed (text, tool calls
    as dicts ``{id, name, arguments}``, a tool result's call id)."""
    if role == "tool":
        inner: tuple[ResultPart, ...] = (TextPart(content),) if content else ()
        return [ToolResultPart(tool_call_id or "", inner, is_error)]
    out: list[Part] = [TextPart(content)] if content else []
    for call in tool_calls:
        out.append(ToolCallPart.from_dict(call))
    return out
