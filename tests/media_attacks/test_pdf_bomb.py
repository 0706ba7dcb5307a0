"""Review of issue 16: a 2 kB PDF whose text layer multiplies through nested forms."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def form_bomb(depth: int, fan: int = 10, leaf: str = "A" * 50) -> bytes:
    """One page drawing form X0 ``fan`` times; each form draws the next ``fan``
    times; the last draws ``leaf``: fan**depth copies of the text, a few objects."""
    objs: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for level in range(depth):
        if level == depth - 1:
            stream = f"BT /F1 1 Tf 0 0 Td ({leaf}) Tj ET".encode()
            res = b"/Resources << /Font << /F1 5 0 R >> >>"
        else:
            stream = b"/X Do " * fan
            res = b"/Resources << /XObject << /X %d 0 R >> >>" % (11 + level)
        objs[10 + level] = (
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 200 200] "
            + res
            + b" /Length %d >>\nstream\n" % len(stream)
            + stream
            + b"\nendstream"
        )
    content = b"/X Do " * fan
    objs[4] = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
    objs[3] = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R "
        b"/Resources << /XObject << /X 10 0 R >> >> >>"
    )
    out = b"%PDF-1.4\n"
    offsets: dict[int, int] = {}
    for number in sorted(objs):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objs[number] + b"\nendobj\n"
    size = max(objs) + 1
    xref = len(out)
    out += b"xref\n0 %d\n" % size
    for number in range(size):
        out += (
            b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
        )
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_form_xobject_bomb_pdf_is_refused_or_cut_within_bounded_memory(tmp_path: Path) -> None:
    # 1.8 kB, one page, 10**5 copies of a 50-character text: on main
    # pdf_extract peaks at ~1.5 GB and 4.6 s, holding PDFIUM_LOCK (every other
    # PDF waits). Over `muxi serve` a chat turn naming it raised the server's
    # VmHWM from 0.8 to 2.0 GB; depth 6 (2 kB) needs ~15 GB: one request
    # OOM-kills the server. normalize() accepts it (pages: 1).
    path = tmp_path / "bomb.pdf"
    path.write_bytes(form_bomb(5))
    code = (
        "import re\n"
        "from pathlib import Path\n"
        "from muxi_cli.errors import MediaError\n"
        "from muxi_cli.media.documents import pdf_extract\n"
        "def hwm():\n"
        "    text = Path('/proc/self/status').read_text()\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', text).group(1))\n"
        "before = hwm()\n"
        "try:\n"
        f"    pdf_extract(Path({str(path)!r}).read_bytes(), ocr=False, who='bomb.pdf')\n"
        "except MediaError:\n"
        "    pass\n"
        "print((hwm() - before) // 1024)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading a 2 kB PDF took more than 30 s")
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.strip().splitlines()[-1])
    assert peak_mb < 300, f"pdf_extract peaked at {peak_mb} MB for a 1.8 kB PDF"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_deeper_bomb_is_refused_before_pdfium_loads_its_page_in_this_process(
    tmp_path: Path,
) -> None:
    # Depth 6 (2 kB): pdfium takes over 2 GB just to load the page, before any
    # check of muxi's can run; the page is first loaded in a child process held
    # to an address-space limit, so this process never pays for it.
    path = tmp_path / "bomb.pdf"
    path.write_bytes(form_bomb(6))
    code = (
        "import re\n"
        "from pathlib import Path\n"
        "from muxi_cli.errors import MediaError\n"
        "from muxi_cli.media.documents import pdf_extract\n"
        "from muxi_cli.media.ingest import normalize\n"
        "def hwm():\n"
        "    text = Path('/proc/self/status').read_text()\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', text).group(1))\n"
        f"data = Path({str(path)!r}).read_bytes()\n"
        "refused = 0\n"
        "for read in (lambda: normalize(data, 'bomb.pdf'),\n"
        "             lambda: pdf_extract(data, ocr=False, who='bomb.pdf')):\n"
        "    try:\n"
        "        read()\n"
        "    except MediaError as exc:\n"
        "        refused += 'too complex' in exc.message\n"
        "print(refused, hwm() // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    refused, peak_mb = (int(v) for v in done.stdout.split())
    assert refused == 2
    assert peak_mb < 400, f"this process peaked at {peak_mb} MB"


def test_a_pdf_is_checked_in_a_child_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # pdf_meta (when it is stored) and pdf_extract (for its text) read the same
    # bytes in one turn: only the first starts the memory-limited child.
    from muxi_cli.media import pdfprobe
    from muxi_cli.media.documents import pdf_extract, pdf_meta
    from tests.media.files import text_pdf

    runs: list[list[str]] = []
    real_run = subprocess.run

    def counting(args: list[str], **kw: object) -> object:
        runs.append(args)
        return real_run(args, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(pdfprobe.subprocess, "run", counting)
    data = text_pdf(["checked once, read twice"])
    assert pdf_meta(data, "once.pdf") == {"pages": 1}
    assert "checked once" in pdf_extract(data, ocr=False, who="once.pdf").text
    assert len(runs) == 1
