"""Request bodies of the HTTP API (they also make the OpenAPI document).

Limits are generous but finite so a fuzzer or a confused client gets a 400
(or 413 for the whole body), never a 500.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_MESSAGE = 200_000
MAX_NAME = 200
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentBody(_Body):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    content: str = Field(max_length=MAX_MESSAGE)
    mime: str = Field(default="text/plain", max_length=MAX_NAME)


class ChatBody(_Body):
    """One turn. ``user_id`` is ignored: the server uses the caller's user."""

    message: str = Field(min_length=1, max_length=MAX_MESSAGE)
    agent: str | None = Field(default=None, min_length=1, max_length=64)
    session_id: str | None = Field(default=None, pattern=ID_PATTERN)
    user_id: str | None = Field(default=None, max_length=128)
    attachments: list[AttachmentBody] = Field(default_factory=list, max_length=20)
    approval: Literal["interactive", "yes", "deny"] = "deny"
    model: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    system: str | None = Field(default=None, max_length=MAX_MESSAGE)
    stream: bool = True
    title: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)

    def request_dict(self) -> dict[str, Any]:
        return self.model_dump()


class RenameBody(_Body):
    title: str = Field(min_length=1, max_length=MAX_NAME)


class MemoryAddBody(_Body):
    text: str = Field(min_length=1, max_length=20_000)
    kind: str = Field(default="fact", pattern=r"^[a-z][a-z_]{0,31}$")


class ApprovalBody(_Body):
    decision: Literal["allow", "always", "deny"]
    #: The run id of the ``tool.approval`` event; optional while the call id is
    #: unique among the caller's pending calls.
    run_id: str | None = Field(default=None, min_length=1, max_length=128)


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
        from muxi_cli.config.access import check_scopes
        from muxi_cli.errors import UsageError
        from muxi_cli.server.scopes import unknown_names

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
