"""Review of issue 16: the memory one small image costs while it is cleaned."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_cleaning_a_small_png_does_not_cost_gigabytes(tmp_path: Path) -> None:
    # A 363 kB PNG (9400 x 9400 RGBA, one colour) is under the pixel limit
    # (89 MP) and under the default --max-body (1 MB, so it goes inline in a
    # chat request too). On main, normalize() peaks at ~700 MB of RSS for it
    # (decode + RGBA + flattened copy + re-encode) and runs for 2 s in a worker
    # thread; nothing bounds how many run at once (inline attachments pass no
    # UploadGate), so ~20 concurrent chat requests exhaust a 16 GB server.
    from PIL import Image

    path = tmp_path / "flat.png"
    buf = io.BytesIO()
    Image.new("RGBA", (9400, 9400), (255, 0, 0, 128)).save(buf, "PNG", optimize=True)
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 1_000_000
    code = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from muxi_cli.media.ingest import normalize\n"
        "from muxi_cli.errors import MediaError\n"
        "def hwm():\n"
        "    text = Path('/proc/self/status').read_text()\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+)', text).group(1))\n"
        "before = hwm()\n"
        "try:\n"
        f"    normalize(Path({str(path)!r}).read_bytes(), 'flat.png', 'image/png')\n"
        "except MediaError:\n"
        "    pass\n"
        "print((hwm() - before) // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.strip().splitlines()[-1])
    assert peak_mb < 400, f"normalize peaked at {peak_mb} MB for a {path.stat().st_size} byte PNG"
