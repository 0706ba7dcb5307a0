"""The AsyncAPI 3.0 description of the WebSocket ``/v1/ws`` (server/ws.py,
docs/server.md "WebSocket protocol").

The document describes the server: it *receives* the client's frames and
*sends* its own. Event frames are the event schemas (the same as
``events.schema.json``'s ``$defs``, copied so the document stands alone) plus
``seq``; the chat request and the stored media are the OpenAPI document's
``ChatBody`` and ``MediaRef`` (copied with what they reference).
"""

from __future__ import annotations

import copy
from typing import Any

from muxi_cli.protocol.apiversion import API_VERSION, HEADER
from muxi_cli.protocol.schema import events_schema

_REF = "#/components/schemas/"
_STR = {"type": "string"}
_NULLABLE_STR = {"type": ["string", "null"]}


def _frame(
    kind: str, props: dict[str, Any] | None = None, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A JSON frame's schema: ``type`` is the constant ``kind``."""
    properties: dict[str, Any] = {"type": {"type": "string", "const": kind}}
    properties.update(props or {})
    return {
        "type": "object",
        "properties": properties,
        "required": ["type", *required],
        "additionalProperties": True,
    }


def _client_frames() -> dict[str, tuple[str, dict[str, Any]]]:
    """Client -> server: name -> (summary, payload)."""
    begin = {"name": _NULLABLE_STR, "media_type": _NULLABLE_STR, "size": {"type": "integer"}}
    return {
        "auth": (
            "First frame when the handshake carried no key header (within 10 s)",
            _frame(
                "auth",
                {
                    "key": _STR,
                    "user_id": _NULLABLE_STR,
                    # What a browser cannot say in a handshake header.
                    "api_version": {
                        **_NULLABLE_STR,
                        "description": (
                            f"The API version the client speaks, as the {HEADER} header "
                            "(MAJOR.MINOR); another major is refused like the header. "
                            "Absent or null: 1.x"
                        ),
                    },
                },
                ("key",),
            ),
        ),
        "chat": (
            "Start a turn; idempotency_key: a fresh id per start, the same on a retry of it",
            _frame(
                "chat",
                {
                    "request": {"$ref": _REF + "ChatBody"},
                    "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 128},
                },
            ),
        ),
        "approve": (
            "Answer a pending tool call; run_id is the tool.approval event's",
            _frame(
                "approve",
                {
                    "run_id": _NULLABLE_STR,
                    "call_id": _STR,
                    "decision": {"type": "string", "enum": ["allow", "always", "deny"]},
                },
                ("call_id", "decision"),
            ),
        ),
        "elicit": (
            "Answer an MCP server's question (elicitation.requested, pending) of your turn",
            _frame(
                "elicit",
                {
                    "elicitation_id": _STR,
                    "action": {"type": "string", "enum": ["accept", "decline", "cancel"]},
                    "content": {"type": ["object", "null"]},
                },
                ("elicitation_id", "action"),
            ),
        ),
        "cancel": (
            "Cancel a turn (no run_id: the current one)",
            _frame("cancel", {"run_id": _NULLABLE_STR}),
        ),
        "resume": (
            "Follow a run again from event after + 1 to its end, then done",
            _frame(
                "resume",
                {"run_id": _STR, "after": {"type": "integer", "minimum": 0}},
                ("run_id",),
            ),
        ),
        "ping": ("Answered with pong", _frame("ping")),
        "media.begin": (
            "An upload of exactly size bytes follows as binary frames",
            _frame("media.begin", begin, ("size",)),
        ),
        "media.end": ("Store the upload: answered with media.stored", _frame("media.end")),
        "media.abort": ("Forget the upload in progress", _frame("media.abort")),
        "audio.begin": (
            "A voice turn: the audio follows as binary frames",
            _frame(
                "audio.begin",
                {
                    **begin,
                    "speak": {"type": "boolean"},
                    "format": {"type": "string", "enum": ["mp3", "wav", "opus"]},
                    "voice": _NULLABLE_STR,
                    "request": {
                        "type": "object",
                        "description": "The chat request's fields except message",
                    },
                },
                ("size",),
            ),
        ),
        "audio.end": ("The audio is complete: the turn runs", _frame("audio.end")),
        "audio.abort": ("Forget the voice turn in progress", _frame("audio.abort")),
    }


def _server_frames() -> dict[str, tuple[str, dict[str, Any]]]:
    """Server -> client: name -> (summary, payload)."""
    return {
        "ready": (
            "Authenticated",
            _frame(
                "ready",
                {
                    "key_id": _STR,
                    "role": {"type": "string", "enum": ["admin", "user"]},
                    "user_id": _NULLABLE_STR,
                    "version": {"type": "string", "description": "muxi's version"},
                    "api_version": {"type": "string", "const": API_VERSION},
                },
                ("key_id", "role", "user_id", "version", "api_version"),
            ),
        ),
        "event": (
            "An event of the running turn",
            {"$ref": _REF + "EventFrame"},
        ),
        "done": (
            "The turn is over (after run.completed or run.failed, or a refused chat)",
            _frame("done", {"run_id": _NULLABLE_STR, "session_id": _NULLABLE_STR}),
        ),
        "error": (
            "A frame was refused; ref names it (auth, chat, approve, version, ...)",
            _frame(
                "error",
                {"error": {"$ref": _REF + "ErrorBody"}, "ref": _NULLABLE_STR},
                ("error", "ref"),
            ),
        ),
        "pong": ("The answer to ping", _frame("pong")),
        "media.stored": (
            "An upload was stored",
            _frame("media.stored", {"media": {"$ref": _REF + "MediaRef"}}, ("media",)),
        ),
    }


def _referenced(schemas: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``names`` and every schema they reference, copied from ``schemas``."""
    out: dict[str, Any] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in schemas:
            continue
        out[name] = copy.deepcopy(schemas[name])
        todo += _refs(out[name])
    return out


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [str(v)[len(_REF) :] for k, v in node.items() if k == "$ref"]
        for v in node.values():
            found += _refs(v)
        return [f for f in found if "/" not in f]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def asyncapi_document(openapi: dict[str, Any]) -> dict[str, Any]:
    """The document, given the (normalized) OpenAPI document it borrows from."""
    events = events_schema()
    schemas = _referenced(
        openapi.get("components", {}).get("schemas", {}), ["ChatBody", "MediaRef"]
    )
    schemas.update(copy.deepcopy(events["$defs"]))
    schemas["Event"] = {"oneOf": [{"$ref": _REF + n} for n in events["$defs"]]}
    schemas["EventFrame"] = {
        "description": "An event (events.schema.json) plus seq, its number in the run "
        "(the SSE id; a voice turn's transcript.delta has none, and an audio.delta's "
        "seq is its chunk number)",
        "allOf": [{"$ref": _REF + "Event"}],
        "properties": {"seq": {"type": "integer", "minimum": 0}},
    }
    schemas["ErrorBody"] = {
        "type": "object",
        "properties": {"code": _STR, "message": _STR, "hint": _NULLABLE_STR},
        "required": ["code", "message"],
    }
    messages: dict[str, Any] = {}
    client = _client_frames()
    server = _server_frames()
    for name, (summary, payload) in {**client, **server}.items():
        messages[name] = {"name": name, "summary": summary, "payload": payload}
    messages["binary"] = {
        "name": "binary",
        "summary": "Upload bytes between a *.begin and its *.end frame",
        "contentType": "application/octet-stream",
        "payload": {"type": "string", "format": "binary"},
    }
    channel_ref = {"$ref": "#/channels/ws"}

    def refs(names: list[str]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/ws/messages/{n}"} for n in names]

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "muxi WebSocket",
            "version": API_VERSION,
            "description": (
                "Interactive sessions over one WebSocket: any number of turns, one at a "
                "time, with approvals, cancels, resumes and uploads on the same socket. "
                "Every frame is a JSON text object except upload bytes. Authenticate "
                "with a header on the handshake (Authorization: Bearer, X-Muxi-Key) or "
                f"an auth first frame. A {HEADER} header (or the auth frame's api_version) "
                "of another major is refused with "
                "an error frame (ref: version) and close code 4400; a failed "
                "authentication closes with 4401 (4408: no auth frame in time)."
            ),
        },
        "defaultContentType": "application/json",
        "channels": {
            "ws": {
                "address": "/v1/ws",
                "title": "GET /v1/ws",
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "headers": {
                            "type": "object",
                            "properties": {
                                "Authorization": _STR,
                                "X-Muxi-Key": _STR,
                                "X-Muxi-User-Id": _STR,
                                HEADER: _STR,
                            },
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
            }
        },
        "operations": {
            "receiveClientFrame": {
                "action": "receive",
                "channel": channel_ref,
                "summary": "Frames the client sends",
                "messages": refs([*client, "binary"]),
            },
            "sendServerFrame": {
                "action": "send",
                "channel": channel_ref,
                "summary": "Frames the server sends",
                "messages": refs(list(server)),
            },
        },
        "components": {
            "messages": messages,
            "schemas": dict(sorted(schemas.items())),
        },
    }
