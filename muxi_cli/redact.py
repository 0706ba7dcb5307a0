"""One redaction function for every place text leaves muxi.

:func:`redact` replaces credentials in free text with ``[redacted]``: known
token formats (OpenAI/Anthropic ``sk-``, GitHub ``ghp_``/``github_pat_``,
Slack ``xox*``, AWS ``AKIA``, Google ``AIza``, GitLab ``glpat-``, muxi server
keys, JWTs, PEM private keys), ``Bearer``/``Basic`` credentials, passwords in
URLs (``scheme://user:pass@host``), ``password=...``/``"token": "..."`` pairs,
``--api-key X``/``--token=X`` command-line flags, and the secrets this process
was configured with (:func:`remember`), also URL-encoded and cut short (a
prefix of 8 or more characters, as providers echo keys in error messages).

Errors, logs, session exports, ``muxi config show``, MCP stderr tails and API
answers all go through it. Standard library only: every layer may import it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
#: Secrets shorter than this are not searched for in text (too many false hits).
MIN_KNOWN = 6
#: A cut-off echo of a known secret must keep at least this many characters.
MIN_PREFIX = 8

# Every pattern runs in linear time on hostile input (error messages echo
# what callers send): a match may only start where a token starts (a
# lookbehind, not \b, which also holds after every "-" or "."), and runs of
# name or value characters are matched possessively (no backtracking).
_START = r"(?<![A-Za-z0-9_.\-])"
_TOKENS = [
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
    ),
    re.compile(_START + r"sk-ant-[A-Za-z0-9_\-]{6,}+"),
    re.compile(_START + r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{6,}+"),
    re.compile(_START + r"gh[pousr]_[A-Za-z0-9]{8,}+"),
    re.compile(_START + r"github_pat_[A-Za-z0-9_]{8,}+"),
    re.compile(_START + r"glpat-[A-Za-z0-9_\-]{8,}+"),
    re.compile(_START + r"xox[abposre]-[A-Za-z0-9\-]{8,}+"),
    re.compile(_START + r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])"),
    re.compile(_START + r"AIza[0-9A-Za-z_\-]{30,}+"),
    re.compile(_START + r"muxi_[0-9a-f]{6,}+_[A-Za-z0-9_\-]{16,}+"),
    re.compile(_START + r"eyJ[A-Za-z0-9_\-]{6,}+\.eyJ[A-Za-z0-9_\-]{6,}+\.[A-Za-z0-9_\-]*+"),  # JWT
]
#: ``Authorization: Bearer X`` and friends: the scheme stays, the credential goes.
_AUTH_SCHEME = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(bearer|basic|digest)(\s++)[A-Za-z0-9._~+/=\-]{6,}+"
)
#: ``scheme://user:password@host``: the password goes.
_URL_PASSWORD = re.compile(r"(?i)(?<![a-z0-9+.\-])([a-z][a-z0-9+.\-]*+://[^\s/:@]*+):([^\s@/]++)@")
#: A name that says its value is secret (``author`` and ``*tokens`` counts are not).
_SECRET_WORD = re.compile(
    r"(?i)(?:pass(?:word|wd|phrase)?|pwd|secret|token(?!s)|api[_\-]?key|apikey|access[_\-]?key|"
    r"private[_\-]?key|auth(?!ors?\b)|credentials?|cookie)"
)
_VALUE = r"(\"[^\"]*+\"|'[^']*+'|[^\s&,;\"'}\]=?]++)"
#: ``name=value``, ``name: value``, ``"name": "value"`` (JSON, YAML, query strings, env);
#: the name is checked by :func:`_pair`.
_PAIR = re.compile(r"(?<![A-Za-z0-9_.\-\"])(\"?[A-Za-z0-9_.\-]++\"?)(\s*+[=:]\s*+)(?!//)" + _VALUE)
#: ``--api-key VALUE`` (the ``=`` form is a pair above).
_FLAG = re.compile(r"(?<!\S)(--?[A-Za-z0-9_.\-]++)(\s++)(?!-)(\"[^\"]*+\"|'[^']*+'|\S++)")
_FLAG_NAME = re.compile(r"^--?[A-Za-z0-9_.\-]+$")
#: Values of secret-named pairs that are not secrets.
_HARMLESS = re.compile(
    r"(?i)^[\"']?(?:\d+(?:\.\d+)?|true|false|null|none|yes|no|required|\[redacted\]|\*+|"
    r"bearer|basic|digest)?[\"']?$"
)


def _secret_name(name: str) -> bool:
    return bool(_SECRET_WORD.search(name))


_lock = threading.Lock()
_known: set[str] = set()


def remember(values: Iterable[str | None]) -> None:
    """Add configured secrets (provider keys, MCP tokens, ...) to what is redacted."""
    with _lock:
        for value in values:
            if _worth_searching(value):
                assert isinstance(value, str)
                _known.add(value.strip())


def _worth_searching(value: object) -> bool:
    """Long enough, and not a plain word (an ``api_key: ollama`` placeholder
    would otherwise blank out every mention of ollama)."""
    return isinstance(value, str) and len(value.strip()) >= MIN_KNOWN and not value.isalpha()


def forget_all() -> None:
    """Forget every remembered secret (tests)."""
    with _lock:
        _known.clear()


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret, safe="")}


def _known_spans(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret, its URL-encoded forms, and echoes cut to a prefix."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        for form in sorted(_forms(secret), key=len, reverse=True):
            if form in text:
                text = text.replace(form, REDACTED)
            if len(form) < MIN_PREFIX or form[:MIN_PREFIX] not in text:
                continue
            out, pos = [], 0
            while True:
                start = text.find(form[:MIN_PREFIX], pos)
                if start < 0:
                    break
                end = start + MIN_PREFIX
                while (
                    end < len(text) and end - start < len(form) and text[end] == form[end - start]
                ):
                    end += 1
                if text[start:end].isalpha():  # a plain word ("password..."), not an echo
                    out.append(text[pos:end])
                else:
                    out.append(text[pos:start] + REDACTED)
                pos = end
            text = "".join(out) + text[pos:]
    return text


def _pair(match: re.Match[str]) -> str:
    name, sep, value = match.groups()
    if not _secret_name(name) or _HARMLESS.match(value):
        return match.group(0)
    if sep.strip() == ":" and not name.startswith('"') and value.isalpha():
        return match.group(0)  # prose ("api_key: missing"), not a credential
    quote_char = value[0] if value[:1] in "\"'" else ""
    return f"{name}{sep}{quote_char}{REDACTED}{quote_char}"


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with every credential it contains replaced by ``[redacted]``.

    ``extra`` are secrets known to the caller (e.g. the key a failed request
    used) on top of the remembered ones.
    """
    if not text:
        return text
    with _lock:
        known = set(_known)
    known.update(v.strip() for v in extra if _worth_searching(v) and isinstance(v, str))
    if known:
        text = _known_spans(text, known)
    for pattern in _TOKENS:
        text = pattern.sub(REDACTED, text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    text = _FLAG.sub(_pair, text)
    return _PAIR.sub(_pair, text)


def redact_args(args: Iterable[str]) -> list[str]:
    """A command line with secret flag values hidden (``--token X``, ``--password=X``)."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next and not arg.startswith("-"):
            out.append(REDACTED)
            hide_next = False
            continue
        hide_next = bool(_FLAG_NAME.match(arg)) and _secret_name(arg)
        out.append(redact(arg))
    return out


class RedactingFormatter(logging.Formatter):
    """A log formatter whose lines (tracebacks included) go through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
