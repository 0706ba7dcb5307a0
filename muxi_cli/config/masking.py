"""Hide secrets in a formation before it is shown (``muxi config show``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from muxi_cli.redact import REDACTED, redact_args
from muxi_cli.secrets import mask

#: Keys whose string value is a secret wherever they appear.
_SECRET_KEY = re.compile(
    r"(?i)^(api_?key|apikey|key|token|access_token|secret|client_secret|password|passwd|"
    r"auth|authorization|credentials?|private_key)$"
)
#: Names of environment variables / headers / query parameters that carry secrets.
_SECRET_NAME = re.compile(r"(?i)(key|token|secret|password|passwd|credential|auth|cookie|session)")


def _mask_url(value: str) -> str:
    """Hide a password in ``scheme://user:pass@host`` and secret query parameters."""
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{'*' * 8}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_NAME.search(k) for k, _ in pairs):
            query = urlencode([(k, mask(v) if _SECRET_NAME.search(k) else v) for k, v in pairs])
    if netloc == parts.netloc and query == parts.query:
        return value
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


#: Header names whose values are shown as they are; every other header value is
#: masked (custom auth headers have any name).
_PLAIN_HEADERS = frozenset(
    {"accept", "accept-language", "content-type", "user-agent", "mcp-protocol-version"}
)


def _mask_value(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    scheme, sep, token = value.partition(" ")
    if sep and scheme.lower() in ("bearer", "basic", "token", "digest") and token:
        return f"{scheme} {mask(token.strip())}"
    return mask(value)


def _walk(data: Any, parent: str | None) -> Any:
    if isinstance(data, list) and parent == "args":
        # --token X, --password=X, URLs with passwords in a server's command line
        return [
            item if not isinstance(item, str) else hidden
            for item, hidden in zip(data, redact_args([str(i) for i in data]), strict=True)
        ]
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            name = str(key)
            if parent == "headers" and isinstance(value, str):
                out[key] = (
                    _mask_url(value) if name.lower() in _PLAIN_HEADERS else _mask_value(value)
                )
            elif parent == "env" and isinstance(value, str):
                out[key] = _mask_value(value) if _SECRET_NAME.search(name) else _mask_url(value)
            elif isinstance(value, str) and _SECRET_KEY.match(name):
                out[key] = _mask_value(value)
            else:
                out[key] = _walk(value, name)
        return out
    if isinstance(data, list):
        return [_walk(item, parent) for item in data]
    if isinstance(data, str):
        return _mask_url(data)
    return data


def mask_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with secrets masked (``sk-a…wxyz``).

    Masked: ``api_key`` and similar keys anywhere; values of ``env`` entries and
    ``headers`` whose names look secret (``*KEY*``, ``*TOKEN*``, ``*SECRET*``,
    ``*PASSWORD*``, ``Authorization``, ...); passwords inside URLs and secret
    query parameters. ``api_key_env`` (a variable *name*) is left as is.
    """
    result = _walk(data, None)
    assert isinstance(result, dict)
    return result


def configured_secrets(data: Any, parent: str | None = None) -> list[str]:
    """Every value :func:`mask_secrets` would hide: what to redact from any text
    (an MCP server's stderr, a provider's error) for this formation."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            name = str(key)
            if isinstance(value, str):
                secret = (
                    (parent == "headers" and name.lower() not in _PLAIN_HEADERS)
                    or (parent == "env" and bool(_SECRET_NAME.search(name)))
                    or bool(_SECRET_KEY.match(name))
                )
                if secret:
                    found.append(value)
                    scheme, sep, token = value.partition(" ")
                    if sep and token and scheme.lower() in ("bearer", "basic", "token", "digest"):
                        found.append(token.strip())
                else:
                    found.extend(_url_password(value))
            else:
                found.extend(configured_secrets(value, name))
    elif isinstance(data, list):
        if parent == "args":
            items = [str(i) for i in data]
            for raw, hidden in zip(items, redact_args(items), strict=True):
                if hidden == REDACTED:
                    found.append(raw)
                elif "=" in raw and hidden.endswith(REDACTED):
                    found.append(raw.split("=", 1)[1])
        for item in data:
            found.extend(configured_secrets(item, parent))
    elif isinstance(data, str):
        found.extend(_url_password(data))
    return found


def _url_password(value: str) -> list[str]:
    if "://" not in value or "@" not in value:
        return []
    try:
        password = urlsplit(value).password
    except ValueError:
        return []
    return [password] if password else []
