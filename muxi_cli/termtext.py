"""Text from models, tools and servers made safe to print on a terminal.

A reply may carry escape sequences: OSC 52 writes the clipboard, OSC 0 sets
the window title, OSC 8 makes links, CSI moves the cursor or clears the
screen, DCS/APC/PM/SOS talk to the terminal itself, and CR or backspace can
overwrite what was printed. :func:`strip_controls` removes all of them (and
every other C0/C1 control character) and keeps newlines and tabs.
:class:`ControlStripper` does the same for a stream of chunks, holding back a
sequence that is cut between two chunks so no half of it is printed.

No imports beyond the standard library: every layer may use this module.
"""

from __future__ import annotations

import re

# Introducers of "string" sequences that run until a terminator: OSC, DCS,
# SOS, PM, APC, in their 7-bit (ESC x) and 8-bit (C1) forms.
_STRING_START = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])"
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # CSI ... final byte
    + r"|"
    + _STRING_START
    + r"[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # ... until BEL or ST
    # Any other ESC sequence (charset, keypad, save cursor, ...); a bare final
    # byte that introduces CSI or a string sequence is handled above.
    + r"|\x1b(?:[\x20-\x2f]+[\x30-\x7e]|[\x30-\x4f\x51-\x57\x59\x5a\x5c\x60-\x7e])",
    re.S,
)
#: What is left after whole sequences are gone: C0 controls but \t and \n,
#: DEL and C1 controls (a lone ESC or BEL, backspace, CR, ...).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Could start a sequence: held back at the end of a chunk.
_INTRODUCER = re.compile(r"[\x1b\x90\x98\x9b\x9d\x9e\x9f]")
#: The start of a sequence whose end has not arrived yet.
_UNFINISHED = re.compile(
    r"\x1b[\x20-\x2f]*"  # ESC (+ intermediates) waiting for its final byte
    + r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*"  # an unfinished CSI
    + r"|"
    + _STRING_START
    + r"[^\x07\x9c]*",  # an OSC/DCS/... whose terminator has not come
    re.S,
)
#: A cut sequence longer than this is not waited for any more.
MAX_PENDING = 4096


def strip_controls(text: str) -> str:
    """``text`` without escape sequences and control characters but ``\\n``/``\\t``
    (a ``\\r\\n`` line end becomes ``\\n``)."""
    if not _CONTROL.search(text):
        return text  # the common case: nothing to do
    return _CONTROL.sub("", _SEQUENCE.sub("", text.replace("\r\n", "\n")))


class ControlStripper:
    """:func:`strip_controls` for streamed text (``feed`` each chunk, then ``flush``)."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        self._pending = ""
        start = self._incomplete_tail(text)
        if start is not None:
            text, self._pending = text[:start], text[start:]
        return strip_controls(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return strip_controls(text)

    @staticmethod
    def _incomplete_tail(text: str) -> int | None:
        """Where a sequence starts that the chunk cut off (None if there is none)."""
        pos = max(0, len(text) - MAX_PENDING)
        while True:
            found = _INTRODUCER.search(text, pos)
            if found is None:
                break
            start = found.start()
            whole = _SEQUENCE.match(text, start)
            if whole is not None:
                pos = whole.end()
                continue
            if _UNFINISHED.fullmatch(text, start):
                return start
            pos = start + 1
        if text.endswith("\r"):
            return len(text) - 1  # maybe the first half of \r\n
        return None


def json_controls_escaped(text: str) -> str:
    """JSON text with DEL and C1 characters written as ``\\u00XX`` (``json.dumps``
    with ``ensure_ascii=False`` leaves them raw, and some terminals act on them)."""
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text)


def progress_text(progress: tuple[float, float | None, str]) -> str:
    """``40% · step 2 of 5`` (a known total), ``2 · copying`` (none)."""
    done, total, message = progress
    amount = f"{min(100, max(0, round(done * 100 / total)))}%" if total else f"{done:g}"
    return f"{amount} · {message}" if message else amount
