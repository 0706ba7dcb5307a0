"""Request bodies of the HTTP API (they also make the OpenAPI document).

Limits are generous but finite so a fuzzer or a confused client gets a 400
(or 413 for the whole body), never a 500.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from muxi_cli.errors import UsageError
from muxi_cli.protocol.records import ApprovalDecision, Attachment, ChatRequest, client_fields

MAX_MESSAGE = 200_000
MAX_NAME = 200
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MEDIA_ID_PATTERN = r"^[0-9a-f]{64}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _swap(hint: Any, swaps: dict[Any, Any]) -> Any:
    """``hint`` with every record type in it replaced by its body model."""
    if hint in swaps:
        return swaps[hint]
    args = typing.get_args(hint)
    if not args:
        return hint
    new = tuple(_swap(a, swaps) for a in args)
    if new == args:
        return hint
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        return typing.Union[new]  # noqa: UP007 (built from a tuple)
    return origin[new[0] if len(new) == 1 else new]


def record_body(
    record: type[Any],
    limits: dict[str, dict[str, Any]],
    *,
    name: str | None = None,
    base: type[BaseModel] = _Body,
    swaps: dict[Any, Any] | None = None,
) -> type[BaseModel]:
    """The request body model of a protocol record, derived from its fields.

    Every field a client may send becomes a body field of the same type and
    default; ``limits`` adds the server's bounds (``Field`` arguments) by name;
    server-only fields are left out, so ``extra="forbid"`` refuses them.
    """
    hints = typing.get_type_hints(record)
    sent = client_fields(record)
    unknown = set(limits) - {f.name for f in sent}
    if unknown:  # a renamed or removed field: fail at import, not in production
        raise TypeError(f"limits for fields {record.__name__} has not: {sorted(unknown)}")
    spec: dict[str, Any] = {}
    for f in sent:
        bounds = limits.get(f.name, {})
        if f.default_factory is not dataclasses.MISSING:
            info = Field(default_factory=f.default_factory, **bounds)
        elif f.default is not dataclasses.MISSING:
            info = Field(default=f.default, **bounds)
        else:
            info = Field(**bounds)
        spec[f.name] = (_swap(hints[f.name], swaps or {}), info)
    doc = base.__doc__ if base is not _Body else None  # the OpenAPI description
    return create_model(name or f"{record.__name__}Body", __base__=base, __doc__=doc, **spec)


class _AttachmentBase(_Body):
    """A file sent with a message: its ``content`` (text, or base64 bytes), or
    the ``media_id`` of a file uploaded with ``POST /v1/media`` (then no content)."""

    @model_validator(mode="after")
    def _one_source(self) -> Any:
        fields = vars(self)  # the fields come from the record (record_body)
        if fields.get("media_id") is not None and fields.get("content"):
            raise ValueError("an attachment has either content or a media_id, not both")
        return self


AttachmentBody = record_body(
    Attachment,
    {
        "name": {"min_length": 1, "max_length": MAX_NAME},
        "content": {"max_length": MAX_MESSAGE},
        "mime": {"max_length": MAX_NAME},
        # The sha256 an upload returned; anything else could never name stored media.
        "media_id": {"pattern": MEDIA_ID_PATTERN},
    },
    base=_AttachmentBase,
)

#: The server's bounds on the fields of :class:`ChatRequest` (a field without
#: an entry is accepted with its type alone; the body limit still applies).
CHAT_LIMITS: dict[str, dict[str, Any]] = {
    "message": {"min_length": 1, "max_length": MAX_MESSAGE},
    "agent": {"min_length": 1, "max_length": 64},
    "session_id": {"pattern": ID_PATTERN},
    "user_id": {"max_length": 128},
    "attachments": {"max_length": 20},
    "model": {"min_length": 1, "max_length": MAX_NAME},
    "system": {"max_length": MAX_MESSAGE},
    "title": {"min_length": 1, "max_length": MAX_NAME},
}


# ChatBody's fields are ChatRequest's client fields (record_body); this base
# gives it its methods and its OpenAPI description.
class _ChatBase(_Body):
    """One turn. ``user_id`` is ignored: the server uses the caller's user."""

    def request_dict(self) -> dict[str, Any]:
        return self.model_dump()


if TYPE_CHECKING:
    ChatBody = _ChatBase
else:
    ChatBody = record_body(
        ChatRequest,
        CHAT_LIMITS,
        name="ChatBody",
        base=_ChatBase,
        swaps={Attachment: AttachmentBody},
    )


class RenameBody(_Body):
    title: str = Field(min_length=1, max_length=MAX_NAME)


class MemoryAddBody(_Body):
    text: str = Field(min_length=1, max_length=20_000)
    kind: str = Field(default="fact", pattern=r"^[a-z][a-z_]{0,31}$")
    #: Ids (or unique prefixes) of the caller's memories this one supersedes.
    replaces: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=20
    )


class ApprovalBody(_Body):
    decision: ApprovalDecision
    #: The run id of the ``tool.approval`` event; optional while the call id is
    #: unique among the caller's pending calls.
    run_id: str | None = Field(default=None, min_length=1, max_length=128)


class ElicitationBody(_Body):
    """The user's answer to an ``elicitation.requested`` event."""

    action: Literal["accept", "decline", "cancel"]
    #: The requested fields (``accept`` only), checked against the server's schema.
    content: dict[str, Any] | None = Field(default=None, max_length=100)


class PromptBody(_Body):
    """Render one prompt of an MCP server."""

    server: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    arguments: dict[str, str] = Field(default_factory=dict, max_length=50)


class MCPAttachBody(_Body):
    """An MCP server to add to the running formation (admin only: a stdio
    server runs a command on the server's machine)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    server: dict[str, Any] = Field(
        description="{command, args, env, cwd} for stdio, or {url, headers} for HTTP"
    )
    agents: list[str] | None = Field(default=None, max_length=100)


class MCPCallBody(_Body):
    """One direct tool call (``muxi mcp call``; admin only: no model, no approval)."""

    tool: str = Field(min_length=1, max_length=256)
    arguments: dict[str, Any] = Field(default_factory=dict)


class KeyCreateBody(_Body):
    role: Literal["admin", "user"]
    user_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
    label: str | None = Field(default=None, max_length=MAX_NAME)
    scopes: list[str] | None = Field(
        default=None,
        max_length=100,
        description="User keys only: *, system, agent:NAME, model:REF, approve:TOOL, set:NAME "
        "(see docs/security.md); omitted: the formation's default",
    )

    def checked_scopes(self, ctx: Any) -> list[str] | None:
        """The scopes, validated against the served formation (400 names the bad one)."""
        from muxi_cli.config.access import check_scopes  # deferred: loads muxi's config
        from muxi_cli.server.scopes import unknown_names  # deferred: loads muxi's config

        if self.scopes is None:
            return None
        try:
            scopes = check_scopes(self.scopes)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        unknown = unknown_names(scopes, ctx.formation)
        if unknown:
            raise UsageError(
                f"scope {unknown[0]!r} names no agent or scope set of this server",
                hint="see the agents with GET /v1/agents and the sets under server.scope_sets",
            )
        return scopes


class MessageOut(BaseModel):
    """One stored message (``GET /v1/sessions/{id}/messages``; docs/server.md).

    A response model of its own: the content parts are tagged JSON objects
    (``{"type": "image", "media": {...}}``), which the dataclasses'
    generated schema would strip of their ``type``.
    """

    id: int
    session_id: str
    seq: int
    role: str
    content: str = Field(description="The text of the parts (what clients before parts read).")
    agent: str | None = None
    run_id: str | None = None
    status: str = "complete"
    created_at: str = ""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    tool_call_id: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    parts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Content parts: text, image, document, audio, tool_call, tool_result; "
        "media as {id, media_type, size, name} references.",
    )
