"""A local fake LLM server speaking the OpenAI and Anthropic wire formats.

Every test that needs a model points the real SDKs (or muxi) at this server::

    def test_something(fake_llm):
        fake_llm.script(Text("hello there"), ToolCalls([("calculator", {"expr": "2+2"})]))
        path = fake_llm.write_formation(tmp_path)            # a muxi.yaml using it
        ...
        assert fake_llm.requests[-1]["messages"][0]["content"] == "hi"

Routes (the path decides the format, so one :class:`Reply` renders either way):

- ``POST /v1/chat/completions`` - OpenAI Chat Completions, streaming or not.
- ``POST /v1/messages`` - Anthropic Messages, streaming or not.
- ``GET /v1/models`` - model list (Anthropic shape when the request carries an
  ``anthropic-version`` header, OpenAI shape otherwise).
- ``GET /api/tags`` - the Ollama probe: ``{"models": [{"name": "llama3.2"}]}``.
- ``POST /v1/audio/transcriptions`` and ``/v1/audio/speech`` - OpenAI's audio
  API (tests/fakeaudio.py); recorded in ``audio_requests``, not ``requests``.
- ``POST /v1/embeddings`` - OpenAI embeddings: deterministic hashed vectors
  (:func:`fake_embedding`; words and character trigrams, salted with the model
  name, L2-normalised) of ``embedding_dims`` (per model: ``embedding_dims_for``),
  as floats or base64 as asked; recorded in ``embedding_requests``.

Each POST pops one scripted reply; with the queue empty the default answers
(initially ``Text("ok")``). ``requests`` holds every POST body with ``path``
and ``headers`` (lower-case names) added; ``gets`` holds the GET paths.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "EmptyOK",
    "Error",
    "FakeLLM",
    "Hang",
    "JSONReply",
    "Malformed",
    "Reply",
    "Slow",
    "Text",
    "ToolCalls",
    "Truncated",
    "fake_embedding",
]

HANG_LIMIT = 60.0  # a Hang reply gives up after this many seconds


# --------------------------------------------------------------------------- replies


@dataclass
class Text:
    """A text answer, streamed in ``chunks`` deltas (default: about one per word)."""

    text: str
    chunks: int | None = None
    usage: tuple[int, int] = (10, 5)
    stop_reason: str = "end_turn"  # "max_tokens" renders as length/max_tokens


@dataclass
class ToolCalls:
    """One model turn asking for tools. ``calls`` holds ``(name, arguments)``;
    arguments given as a ``str`` are sent verbatim (e.g. invalid JSON)."""

    calls: list[tuple[str, dict[str, Any] | str]]
    text: str = ""
    usage: tuple[int, int] = (20, 10)
    #: Filled when rendered: the ids sent for each call, in order.
    ids: list[str] = field(default_factory=list)
    #: Ids to send instead of fresh ones (a provider that repeats its call ids).
    fixed_ids: tuple[str, ...] = ()


@dataclass
class Error:
    """An HTTP error shaped like each provider's error body.

    Status 400 defaults to a context-too-long error; ``code`` overrides the
    provider error code/type. With ``mid_stream=True`` a streamed answer starts
    (status 200, some text) and the error arrives as a stream event, as
    Anthropic does for ``overloaded_error``.
    """

    status: int
    message: str | None = None
    retry_after: float | None = None
    code: str | None = None
    mid_stream: bool = False
    #: Send this JSON body verbatim (e.g. :data:`LLAMA_CPP_CONTEXT_ERROR`).
    body: dict[str, Any] | None = None


@dataclass
class Malformed:
    """Starts a valid stream, then sends a chunk that is not JSON and ends."""

    text: str = "partial answer"


@dataclass
class Slow:
    """Like :class:`Text` with ``delay`` seconds between chunks."""

    text: str
    delay: float
    chunks: int | None = None
    usage: tuple[int, int] = (10, 5)


@dataclass
class Hang:
    """Accepts the request and never answers (until ``close`` or 60 s)."""


@dataclass
class JSONReply:
    """A structured answer: the content text is ``json.dumps(obj)``."""

    obj: Any
    usage: tuple[int, int] = (10, 5)


@dataclass
class Truncated:
    """A stream that stops before the end: some text, then no finish reason, no
    ``[DONE]`` (OpenAI) and no ``message_stop`` (Anthropic), as a server killed
    with SIGTERM mid-answer does. ``abrupt=True`` drops the connection without
    ending the chunked body; otherwise the body ends cleanly."""

    text: str = "partial answer"
    abrupt: bool = False


@dataclass
class EmptyOK:
    """HTTP 200 with an empty body (llama-cpp-python's answer to a context
    overflow while streaming, or to streamed ``tool_choice: "auto"``)."""


Reply = Text | ToolCalls | Error | Malformed | Slow | Hang | JSONReply | Truncated | EmptyOK
ReplyFn = Callable[[dict[str, Any]], Reply]


def _split(text: str, chunks: int | None) -> list[str]:
    """Split ``text`` into pieces that join back exactly."""
    if not text:
        return []
    if chunks is None:
        pieces: list[str] = []
        current = ""
        for ch in text:
            current += ch
            if ch == " ":
                pieces.append(current)
                current = ""
        if current:
            pieces.append(current)
        return pieces
    chunks = max(1, min(chunks, len(text)))
    size = math.ceil(len(text) / chunks)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _fragments(raw: str) -> list[str]:
    """Argument JSON split in about three fragments (at least one, possibly empty)."""
    if len(raw) < 3:
        return [raw]
    third = max(1, len(raw) // 3)
    return [raw[:third], raw[third : 2 * third], raw[2 * third :]]


def _args_text(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _args_obj(arguments: dict[str, Any] | str) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return {"_raw": arguments}
    return arguments


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


# --------------------------------------------------------------------------- embeddings

_WORD = re.compile(r"\w+", re.UNICODE)


def fake_embedding(text: str, dims: int, model: str = "") -> list[float]:
    """A deterministic unit vector: hashed words and character trigrams (salted with
    ``model``, so two models' vectors differ), so texts sharing words are close."""
    vector = [0.0] * dims
    words = _WORD.findall(text.lower())
    features = list(words)
    for word in words:
        padded = f"#{word}#"
        features.extend(padded[i : i + 3] for i in range(len(padded) - 2))
    for feature in features or ["<empty>"]:
        digest = hashlib.blake2b(f"{model}|{feature}".encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "little") % dims
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


# --------------------------------------------------------------------------- error bodies

_OPENAI_ERRORS: dict[int, tuple[str, str, str]] = {
    # status: (type, code, default message)
    400: (
        "invalid_request_error",
        "context_length_exceeded",
        "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9000 tokens. Please reduce the length of the messages.",
    ),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "permission_denied", "You are not allowed to do this."),
    404: ("invalid_request_error", "model_not_found", "The model `{model}` does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", "server_error", "The server had an error processing your request."),
    503: ("server_error", "service_unavailable", "The server is overloaded."),
}

_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


#: llama.cpp's ``llama-server`` context overflow body (HTTP 400).
LLAMA_CPP_CONTEXT_ERROR = {
    "error": {
        "code": 400,
        "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 9000,
        "n_ctx": 8192,
    }
}


def _error_body(err: Error, fmt: str, model: str) -> dict[str, Any]:
    if err.body is not None:
        return err.body
    if fmt == "openai":
        etype, code, message = _OPENAI_ERRORS.get(
            err.status,
            ("server_error" if err.status >= 500 else "invalid_request_error", "error", "Error"),
        )
        return {
            "error": {
                "message": (err.message or message).replace("{model}", model),
                "type": etype,
                "param": "messages" if code == "context_length_exceeded" else None,
                "code": err.code or code,
            }
        }
    etype, message = _ANTHROPIC_ERRORS.get(
        err.status, ("api_error" if err.status >= 500 else "invalid_request_error", "Error")
    )
    return {
        "type": "error",
        "error": {
            "type": err.code or etype,
            "message": (err.message or message).replace("{model}", model),
        },
        "request_id": _new_id("req_"),
    }


# --------------------------------------------------------------------------- the server


class _Closing(Exception):
    """Raised inside a handler when the server is shutting down."""


class FakeLLM:
    """The fake server; see the module docstring."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.gets: list[str] = []
        self.ollama_models: list[str] = ["llama3.2"]
        self.models: list[str] = ["fake-model"]
        #: Send the final usage chunk when a streaming request asks for it
        #: (``False``: like llama-cpp-python, which ignores ``include_usage``).
        self.stream_usage = True
        #: Behave like llama-cpp-python with tools: streamed requests ignore the
        #: tools (a scripted tool call comes back as JSON text), streamed
        #: ``tool_choice: "auto"`` gets an empty 200, non-streamed requests with
        #: an explicit ``tool_choice`` get real tool calls.
        self.llama_cpp_python_tools = False
        #: Requests whose client closed the connection while the fake was still
        #: working on them (a :class:`Hang` or :class:`Slow` reply).
        self.disconnects = 0
        #: What ``GET /props`` answers (llama.cpp's server settings); ``None``: 404.
        self.props: dict[str, Any] | None = None
        #: The audio endpoints (tests/fakeaudio.py): what they received, the
        #: transcript they answer, the speech bytes (``None``: silence made there),
        #: an ``Error`` to answer instead.
        self.audio_requests: list[dict[str, Any]] = []
        self.transcript = "hello from the fake transcriber"
        self.speech_audio: bytes | None = None
        self.audio_error: Error | None = None
        #: ``POST /v1/embeddings``: the dimensions of every model's vectors, unless
        #: ``embedding_dims_for`` names the model; the bodies received.
        self.embedding_dims = 64
        self.embedding_dims_for: dict[str, int] = {}
        self.embedding_requests: list[dict[str, Any]] = []
        self._queue: deque[Reply | ReplyFn] = deque()
        self._default: Reply | ReplyFn = Text("ok")
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self.openai_base_url = self.url + "/v1"
        self.anthropic_base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- scripting -----------------------------------------------------------------

    def script(self, *replies: Reply | ReplyFn) -> None:
        """Queue replies; each POST pops one (a callable gets the request dict)."""
        with self._lock:
            self._queue.extend(replies)

    def set_default(self, reply_or_fn: Reply | ReplyFn) -> None:
        """The reply used when the queue is empty (a callable gets the request dict)."""
        with self._lock:
            self._default = reply_or_fn

    @property
    def pending(self) -> int:
        """How many scripted replies are still queued."""
        with self._lock:
            return len(self._queue)

    @property
    def last_request(self) -> dict[str, Any]:
        with self._lock:
            if not self.requests:
                raise AssertionError("the fake LLM has received no request")
            return self.requests[-1]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` POSTs arrived (AssertionError on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            return list(self.requests)

    def wait_for_disconnects(self, count: int, timeout: float = 10.0) -> int:
        """Block until ``count`` clients hung up mid-answer (AssertionError on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.disconnects >= count, timeout):
                raise AssertionError(f"expected {count} disconnects, got {self.disconnects}")
            return self.disconnects

    def _record_audio(self, record: dict[str, Any]) -> None:
        with self._cond:
            self.audio_requests.append(record)
            self._cond.notify_all()

    def _disconnected(self) -> None:
        with self._cond:
            self.disconnects += 1
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget requests and scripted replies; the default goes back to ``Text("ok")``."""
        with self._lock:
            self.requests.clear()
            self.audio_requests.clear()
            self.embedding_requests.clear()
            self.gets.clear()
            self._queue.clear()
            self._default = Text("ok")

    def _next_reply(self, request: dict[str, Any]) -> Reply:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
            item = self._queue.popleft() if self._queue else self._default
        return item(request) if callable(item) else item

    # -- formations ------------------------------------------------------------------

    def formation_yaml(
        self, provider: str = "openai", model: str = "fake-model", extra: str = ""
    ) -> str:
        """A ``muxi.yaml`` whose ``provider`` points at this server, plus ``extra`` YAML.

        ``provider`` is ``openai``, ``anthropic`` or any other name (configured as
        an OpenAI-compatible server). Do not repeat ``default_model`` or
        ``providers`` in ``extra``.
        """
        if provider == "anthropic":
            body = f"    base_url: {self.anthropic_base_url}\n    api_key: sk-ant-fake\n"
        elif provider == "openai":
            body = f"    base_url: {self.openai_base_url}\n    api_key: sk-fake\n"
        else:
            body = f"    type: openai\n    base_url: {self.openai_base_url}\n    api_key: sk-fake\n"
        text = f"default_model: {provider}/{model}\nproviders:\n  {provider}:\n{body}"
        if extra:
            text += "\n" + extra.strip("\n") + "\n"
        return text

    def write_formation(self, dir: Path, **kw: Any) -> Path:
        """Write :meth:`formation_yaml` to ``dir/muxi.yaml`` and return its path."""
        path = Path(dir) / "muxi.yaml"
        path.write_text(self.formation_yaml(**kw), encoding="utf-8")
        return path

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` unless the server closes first (then raise)."""
        if seconds > 0 and self._closing.wait(seconds):
            raise _Closing
        if self._closing.is_set():
            raise _Closing


# --------------------------------------------------------------------------- rendering


@dataclass
class _Turn:
    """A reply reduced to what both formats need."""

    text_pieces: list[str]
    calls: list[tuple[str, str, str]]  # (id, name, raw arguments)
    usage: tuple[int, int]
    stop: str  # neutral: end_turn | tool_use | max_tokens
    delay: float = 0.0


def _turn(reply: Reply, fmt: str) -> _Turn:
    if isinstance(reply, JSONReply):
        return _Turn([json.dumps(reply.obj)], [], reply.usage, "end_turn")
    if isinstance(reply, Text):
        return _Turn(_split(reply.text, reply.chunks), [], reply.usage, reply.stop_reason)
    if isinstance(reply, Slow):
        return _Turn(_split(reply.text, reply.chunks), [], reply.usage, "end_turn", reply.delay)
    if isinstance(reply, ToolCalls):
        prefix = "call_" if fmt == "openai" else "toolu_"
        reply.ids = list(reply.fixed_ids) or [_new_id(prefix) for _ in reply.calls]
        calls = [(i, n, _args_text(a)) for i, (n, a) in zip(reply.ids, reply.calls, strict=True)]
        return _Turn(_split(reply.text, None), calls, reply.usage, "tool_use")
    if isinstance(reply, Malformed):
        return _Turn(_split(reply.text, None), [], (10, 5), "end_turn")
    raise TypeError(f"not a renderable reply: {reply!r}")


_OPENAI_STOP = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def _openai_events(turn: _Turn, model: str, include_usage: bool, malformed: bool) -> Iterator[str]:
    cid = _new_id("chatcmpl-")
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        obj = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return f"data: {json.dumps(obj)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for piece in turn.text_pieces:
        yield chunk({"content": piece})
        if malformed:
            yield 'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": \n\n'
            return
    for index, (call_id, name, raw) in enumerate(turn.calls):
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        for frag in _fragments(raw):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": frag}}]})
    yield chunk({}, _OPENAI_STOP.get(turn.stop, turn.stop))
    if include_usage:
        tin, tout = turn.usage
        usage = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
        }
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"


def _openai_completion(turn: _Turn, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(turn.text_pieces) or None,
        "refusal": None,
    }
    if turn.calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in turn.calls
        ]
    tin, tout = turn.usage
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _OPENAI_STOP.get(turn.stop, turn.stop),
            }
        ],
        "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
    }


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _has_tool_blocks(body: dict[str, Any]) -> bool:
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result") for b in content
        ):
            return True
    return False


def _anthropic_events(turn: _Turn, model: str, malformed: bool) -> Iterator[str]:
    tin, tout = turn.usage
    message = {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": tin, "output_tokens": 1},
    }
    yield _sse("message_start", {"type": "message_start", "message": message})
    yield _sse("ping", {"type": "ping"})
    index = 0
    if turn.text_pieces or not turn.calls:
        yield _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        for piece in turn.text_pieces:
            yield _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
            if malformed:
                yield 'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n'
                return
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        index = 1
    for call_id, name, raw in turn.calls:
        yield _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}},
            },
        )
        for frag in _fragments(raw):
            yield _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": frag},
                },
            )
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
        index += 1
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": turn.stop, "stop_sequence": None},
            "usage": {"output_tokens": tout},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def _anthropic_message(turn: _Turn, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if turn.text_pieces or not turn.calls:
        content.append({"type": "text", "text": "".join(turn.text_pieces)})
    for call_id, name, raw in turn.calls:
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": _args_obj(raw)})
    tin, tout = turn.usage
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": turn.stop,
        "stop_sequence": None,
        "usage": {"input_tokens": tin, "output_tokens": tout},
    }


# --------------------------------------------------------------------------- HTTP handler


def _make_handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs
        timeout = HANG_LIMIT + 5  # idle keep-alive connections are dropped eventually
        server_version = "FakeLLM/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        # -- helpers ---------------------------------------------------------------

        def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(obj).encode()
            self._send_raw(status, body, "application/json", headers)

        def _send_raw(
            self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _chunk(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        def _end_stream(self) -> None:
            self.wfile.write(b"0\r\n\r\n")

        # -- routes ----------------------------------------------------------------

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            with fake._lock:
                fake.gets.append(path)
            if path == "/props" and fake.props is not None:
                self._send_json(200, fake.props)
            elif path == "/api/tags":
                self._send_json(
                    200, {"models": [{"name": n, "model": n} for n in fake.ollama_models]}
                )
            elif path == "/v1/models":
                if self.headers.get("anthropic-version"):
                    data = [
                        {
                            "type": "model",
                            "id": m,
                            "display_name": m,
                            "created_at": "2025-01-01T00:00:00Z",
                        }
                        for m in fake.models
                    ]
                    self._send_json(
                        200,
                        {
                            "data": data,
                            "has_more": False,
                            "first_id": data[0]["id"] if data else None,
                            "last_id": data[-1]["id"] if data else None,
                        },
                    )
                else:
                    data = [
                        {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                        for m in fake.models
                    ]
                    self._send_json(200, {"object": "list", "data": data})
            else:
                self._send_json(
                    404, {"error": {"message": f"no route {path}", "type": "not_found"}}
                )

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if path.startswith("/v1/audio/"):
                from tests.fakeaudio import handle

                handle(fake, self, path, raw)
                return
            if path == "/v1/embeddings":
                self._embeddings(raw)
                return
            if path not in ("/v1/chat/completions", "/v1/messages"):
                self._send_json(
                    404, {"error": {"message": f"no route {path}", "type": "not_found"}}
                )
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send_json(
                    400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}}
                )
                return
            if not isinstance(body, dict):
                body = {"body": body}
            body["path"] = path
            body["headers"] = {k.lower(): v for k, v in self.headers.items()}
            fmt = "openai" if path == "/v1/chat/completions" else "anthropic"
            if fmt == "anthropic" and not body.get("tools") and _has_tool_blocks(body):
                # The real API's rule: earlier tool blocks need tools on the request.
                message = "Requests which include tool_use or tool_result blocks must define tools."
                self._send_json(
                    400,
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": message},
                    },
                )
                return
            try:
                reply = fake._next_reply(body)
                self._answer(reply, body, fmt)
            except (BrokenPipeError, ConnectionResetError):
                fake._disconnected()
                self.close_connection = True
            except _Closing:
                self.close_connection = True

        def _embeddings(self, raw: bytes) -> None:
            body = json.loads(raw or b"{}")
            body["headers"] = {k.lower(): v for k, v in self.headers.items()}
            with fake._cond:
                fake.embedding_requests.append(body)
            model = str(body.get("model") or "")
            texts = body.get("input")
            texts = [texts] if isinstance(texts, str) else list(texts or [])
            dims = fake.embedding_dims_for.get(model, fake.embedding_dims)
            data = []
            for index, text in enumerate(texts):
                vector = fake_embedding(str(text), dims, model)
                if body.get("encoding_format") == "base64":
                    packed = struct.pack(f"<{dims}f", *vector)
                    value: Any = base64.b64encode(packed).decode()
                else:
                    value = vector
                data.append({"object": "embedding", "index": index, "embedding": value})
            used = sum(len(str(t).split()) for t in texts)
            usage = {"prompt_tokens": used, "total_tokens": used}
            self._send_json(200, {"object": "list", "data": data, "model": model, "usage": usage})

        def _client_gone(self) -> bool:
            """The client closed its end (EOF is readable without blocking)."""
            import select
            import socket

            sock = self.connection
            try:
                readable, _, _ = select.select([sock], [], [], 0)
                return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _hang(self) -> None:
            deadline = time.monotonic() + HANG_LIMIT
            while time.monotonic() < deadline:
                if self._client_gone():
                    fake._disconnected()
                    break
                fake._wait(0.02)
            self.close_connection = True

        def _truncated(self, reply: Truncated, body: dict[str, Any], fmt: str, model: str) -> None:
            if not body.get("stream"):
                # Promise a body, send half of it, drop the connection.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "4096")
                self.end_headers()
                self.wfile.write(b'{"id": "chatcmpl-cut", "choices": [')
                self.close_connection = True
                return
            turn = _turn(Text(reply.text), fmt)
            events = list(
                _openai_events(turn, model, False, False)
                if fmt == "openai"
                else _anthropic_events(turn, model, False)
            )
            # Everything up to the last text delta: no finish reason, no [DONE] / message_stop.
            keep = 1 + len(turn.text_pieces) if fmt == "openai" else 3 + len(turn.text_pieces)
            self._start_stream()
            for event in events[:keep]:
                self._chunk(event)
            if not reply.abrupt:
                self._end_stream()
            self.close_connection = True

        def _empty(self, body: dict[str, Any]) -> None:
            ctype = "text/event-stream" if body.get("stream") else "application/json"
            self._send_raw(200, b"", ctype)

        def _llama_cpp_python(self, reply: Reply, body: dict[str, Any]) -> Reply:
            """What llama-cpp-python makes of a tool-bearing request."""
            if not body.get("tools") or not isinstance(reply, ToolCalls):
                return reply
            choice = body.get("tool_choice")
            if body.get("stream"):
                if choice == "auto":
                    return EmptyOK()
                if choice is None:
                    name, args = reply.calls[0]
                    return Text(
                        json.dumps({"name": name, "arguments": _args_obj(_args_text(args))})
                    )
                return reply
            if choice is None:
                name, args = reply.calls[0]
                return Text(json.dumps({"name": name, "arguments": _args_obj(_args_text(args))}))
            return reply

        def _answer(self, reply: Reply, body: dict[str, Any], fmt: str) -> None:
            model = str(body.get("model") or "fake-model")
            if fake.llama_cpp_python_tools and fmt == "openai":
                reply = self._llama_cpp_python(reply, body)
            if isinstance(reply, Hang):
                self._hang()
                return
            fake._wait(fake.latency)
            if isinstance(reply, EmptyOK):
                self._empty(body)
                return
            if isinstance(reply, Truncated):
                self._truncated(reply, body, fmt, model)
                return
            if isinstance(reply, Error) and reply.mid_stream and body.get("stream"):
                self._stream_error(reply, fmt, model)
                return
            if isinstance(reply, Error):
                headers: dict[str, str] = {}
                if reply.retry_after is not None:
                    headers["retry-after-ms"] = str(int(reply.retry_after * 1000))
                    headers["retry-after"] = str(max(1, math.ceil(reply.retry_after)))
                self._send_json(reply.status, _error_body(reply, fmt, model), headers)
                return
            turn = _turn(reply, fmt)
            malformed = isinstance(reply, Malformed)
            if not body.get("stream"):
                fake._wait(turn.delay)
                if malformed:
                    self._send_raw(200, b'{"id": "broken", "choices": [', "application/json")
                    return
                obj = (
                    _openai_completion(turn, model)
                    if fmt == "openai"
                    else _anthropic_message(turn, model)
                )
                self._send_json(200, obj)
                return
            if fmt == "openai":
                include_usage = fake.stream_usage and bool(
                    (body.get("stream_options") or {}).get("include_usage")
                )
                events = _openai_events(turn, model, include_usage, malformed)
            else:
                events = _anthropic_events(turn, model, malformed)
            self._start_stream()
            for i, event in enumerate(events):
                if i and turn.delay:
                    fake._wait(turn.delay)
                self._chunk(event)
            self._end_stream()
            if malformed:
                self.close_connection = True

        def _stream_error(self, reply: Error, fmt: str, model: str) -> None:
            self._start_stream()
            events = list(
                _openai_events(_turn(Text("partial "), fmt), model, False, False)
                if fmt == "openai"
                else _anthropic_events(_turn(Text("partial "), fmt), model, False)
            )
            error = _error_body(reply, fmt, model)
            if fmt == "openai":
                self._chunk(events[0])
                self._chunk(events[1])
                self._chunk(f"data: {json.dumps(error)}\n\n")
            else:
                for event in events[:4]:  # message_start, ping, block start, one delta
                    self._chunk(event)
                self._chunk(_sse("error", error))
            self._end_stream()
            self.close_connection = True

    return Handler
