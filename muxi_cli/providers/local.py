"""Local model servers: where Ollama listens, what counts as local, and one probe.

One HTTP GET helper serves every question muxi asks a model server: is it up
and which models does it serve (``muxi doctor``, picking Ollama when no key is
set) and how large is a model's context (the reply budget). Blocking urllib
with short timeouts, so callers in async code run it in a worker thread.
Nothing here raises.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
#: Set to ``1`` to never look for a local Ollama (tests, offline machines).
NO_OLLAMA_PROBE_ENV = "MUXI_NO_OLLAMA_PROBE"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"}
_CONTEXT_KEYS = ("max_model_len", "max_context_length", "context_length", "n_ctx")


def ollama_host() -> str:
    """The Ollama base URL (no ``/v1``): ``$OLLAMA_HOST`` or 127.0.0.1:11434."""
    raw = (os.environ.get("OLLAMA_HOST") or "").strip()
    if not raw:
        return OLLAMA_DEFAULT_HOST
    if "://" not in raw:
        raw = "http://" + raw
    parts = urllib.parse.urlsplit(raw)
    host = parts.hostname or "127.0.0.1"
    if host == "0.0.0.0":
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or 11434
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{host}:{port}{path}"


def is_local_url(url: str | None) -> bool:
    """A server on this machine (loopback, ``*.localhost``)."""
    if not url:
        return False
    try:
        host = urllib.parse.urlsplit(url if "://" in url else "http://" + url).hostname or ""
    except ValueError:
        return False
    return host in _LOCAL_HOSTS or host.endswith(".localhost")


def get_json(url: str, headers: dict[str, str] | None = None, timeout: float = 1.0) -> Any:
    """GET ``url`` and parse JSON (at most 2 MB). Raises ``OSError``/``ValueError``."""
    # urllib.request pulls in http.client, ssl and email (~30 ms): only a probe pays.
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read(2_000_000))


@dataclass(frozen=True, slots=True)
class Probe:
    """What a model server answered."""

    url: str
    reachable: bool
    #: The models it serves (``None``: it did not say).
    models: list[str] | None = None
    #: Why it is not reachable, or the HTTP status of a route it lacks.
    reason: str = ""
    #: The models' entries as the server listed them (context sizes live there).
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def detail(self) -> str:
        """One line for ``muxi doctor``: reachable or not, and up to five models."""
        if not self.reachable:
            return f"not reachable at {self.url} ({self.reason})"
        if self.models is None:
            return f"reachable at {self.url}" + (f" ({self.reason})" if self.reason else "")
        shown = ", ".join(self.models[:5]) or "no models listed"
        more = f" and {len(self.models) - 5} more" if len(self.models) > 5 else ""
        return f"reachable at {self.url} ({len(self.models)} models: {shown}{more})"


def probe(
    base_url: str,
    *,
    ollama: bool = False,
    headers: dict[str, str] | None = None,
    timeout: float = 1.0,
) -> Probe:
    """Ask a model server whether it is up and what it serves.

    ``ollama``: ``base_url`` is Ollama's root and ``GET /api/tags`` lists the
    models; else it is an OpenAI-compatible base URL and ``GET <base_url>/models``
    does. A server that answers with an HTTP error is reachable, just without
    that route.
    """
    import urllib.error  # with urllib.request, deferred as in get_json

    base = base_url.rstrip("/")
    url = base + ("/api/tags" if ollama else "/models")
    try:
        data = get_json(url, headers, timeout)
    except urllib.error.HTTPError as exc:
        route = url.removeprefix(base)
        return Probe(base_url, True, reason=f"GET {route} answered HTTP {exc.code}")
    except Exception as exc:  # refused, timed out, cut off, not JSON: not usable
        return Probe(base_url, False, reason=str(getattr(exc, "reason", exc)))
    listed = data.get("models" if ollama else "data") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        return Probe(base_url, True)
    entries = [m for m in listed if isinstance(m, dict)]
    key = ("name", "model") if ollama else ("id",)
    models = [str(next((m[k] for k in key if m.get(k)), None)) for m in entries]
    return Probe(base_url, True, models, entries=entries)


def probe_ollama(timeout: float = 1.0) -> Probe | None:
    """The local Ollama (``$OLLAMA_HOST``); ``None`` when ``MUXI_NO_OLLAMA_PROBE=1``."""
    if os.environ.get(NO_OLLAMA_PROBE_ENV) == "1":
        return None
    return probe(ollama_host(), ollama=True, timeout=timeout)


def _context_of(entry: dict[str, Any]) -> int | None:
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
    base_url: str, model: str, headers: dict[str, str] | None = None, timeout: float = 0.5
) -> int | None:
    """The context size (tokens) the server reports for ``model``, or ``None``.

    Servers say it in different places: llama.cpp's ``/props`` (``n_ctx``),
    vLLM's ``/v1/models`` (``max_model_len``), llama-server's (``meta.n_ctx_train``)
    and LM Studio's (``max_context_length``).
    """
    base = base_url.rstrip("/")
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    try:
        props = get_json(root + "/props", headers, timeout)
    except Exception:
        props = None
    if isinstance(props, dict):
        for source in (props.get("default_generation_settings"), props):
            if isinstance(source, dict):
                value = source.get("n_ctx")
                if isinstance(value, int) and value > 0:
                    return value
    listing = probe(base, headers=headers, timeout=timeout)
    quoted = urllib.parse.unquote(model)
    for entry in listing.entries:
        if entry.get("id") in (model, quoted):
            return _context_of(entry)
    return None
