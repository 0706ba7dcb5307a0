"""Escape sequences removed from text printed on a terminal (issue 13, hole 11)."""

from __future__ import annotations

import pytest

from muxi_cli.termtext import ControlStripper, json_controls_escaped, strip_controls


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x1b]52;c;ZXZpbA==\x07b", "ab"),  # OSC 52 clipboard write, BEL-terminated
        ("a\x1b]0;title\x1b\\b", "ab"),  # OSC 0 title, ST-terminated
        ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # OSC 8 hyperlink
        ("a\x9d0;title\x9cb", "ab"),  # 8-bit OSC and ST
        ("a\x1b[2J\x1b[H\x1b[31mred\x1b[0mb", "aredb"),  # CSI
        ("a\x1b[?1049hb", "ab"),  # private CSI (alternate screen)
        ("a\x9b2Jb", "ab"),  # 8-bit CSI
        ("a\x1bPq#0;2\x1b\\b", "ab"),  # DCS (sixel)
        ("a\x1b_apc\x1b\\b\x1b^pm\x1b\\c\x1bXsos\x1b\\d", "abcd"),  # APC, PM, SOS
        ("a\x1b", "a"),  # a lone ESC at the end
        ("a\x1b7b\x1b8c\x1b(Bd\x1bce", "abcde"),  # other ESC sequences
        ("a\x1bb", "a"),  # ESC b is a two-byte sequence: removed whole
        ("x\x08\x08y\x07z\x00\x7f\x85", "xyz"),  # backspace, BEL, NUL, DEL, C1 NEL
        ("one\r\ntwo\rthree", "one\ntwothree"),  # CR overwrite trick
        ("tabs\tand\nnewlines stay", "tabs\tand\nnewlines stay"),
        ("unicode é ü 日本 stays", "unicode é ü 日本 stays"),
    ],
)
def test_strip_controls(raw: str, clean: str) -> None:
    assert strip_controls(raw) == clean


def test_stream_holds_back_a_cut_sequence() -> None:
    text = "x \x1b]52;c;ZXZpbA==\x07 y \x1b]0;t\x1b\\ z \x1b[31m w\r\n"
    clean = strip_controls(text)
    for size in range(1, 8):
        stripper = ControlStripper()
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        out = "".join(stripper.feed(p) for p in pieces) + stripper.flush()
        assert out == clean == "x  y  z  w\n", size


def test_stream_gives_up_on_an_endless_sequence() -> None:
    stripper = ControlStripper()
    out = stripper.feed("\x1b]52;c;" + "A" * 10_000)
    out += stripper.feed("tail") + stripper.flush()
    assert "\x1b" not in out and out.endswith("tail")


def test_json_controls_escaped() -> None:
    assert json_controls_escaped('"a\x9b31mb\x7f"') == '"a\\u009b31mb\\u007f"'
