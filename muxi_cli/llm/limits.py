"""Ask a local OpenAI-compatible server how large its model's context is.

A fixed reply budget fits no local server: a 4,096-token default lets a small
model ramble for minutes, and can exceed a small context outright. Servers say
what they hold: llama.cpp's ``/props`` (``n_ctx``), vLLM's ``/v1/models``
(``max_model_len``), llama-server's ``/v1/models`` (``meta.n_ctx_train``) and
LM Studio's (``max_context_length``). The reply budget is then kept to half of
the context, leaving the other half for the conversation.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

PROBE_TIMEOUT = 0.5
_CONTEXT_KEYS = ("max_model_len", "max_context_length", "context_length", "n_ctx")


def _get_json(url: str, headers: dict[str, str], timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read(2_000_000))


def _from_model_entry(entry: Any) -> int | None:
    if not isinstance(entry, dict):
        return None
    for key in _CONTEXT_KEYS:
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = entry.get("meta")
    if isinstance(meta, dict):
        for key in ("n_ctx", "n_ctx_train"):
            value = meta.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def context_size(
    base_url: str, model: str, headers: dict[str, str] | None = None, timeout: float = PROBE_TIMEOUT
) -> int | None:
    """The context size (tokens) the server reports for ``model``, or ``None``.

    Blocking (urllib); callers run it in a worker thread. Never raises.
    """
    headers = dict(headers or {})
    base = base_url.rstrip("/")
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    try:
        props = _get_json(root + "/props", headers, timeout)
    except Exception:
        props = None
    if isinstance(props, dict):
        settings = props.get("default_generation_settings")
        for source in (settings, props):
            if isinstance(source, dict):
                value = source.get("n_ctx")
                if isinstance(value, int) and value > 0:
                    return value
    try:
        listing = _get_json(base + "/models", headers, timeout)
    except Exception:
        return None
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        return None
    quoted = urllib.parse.unquote(model)
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id") in (model, quoted):
            return _from_model_entry(entry)
    return None


def reply_budget(wanted: int, context: int | None) -> int:
    """``wanted`` kept to half of ``context`` (at least 256 tokens)."""
    if context is None:
        return wanted
    return max(256, min(wanted, context // 2))
