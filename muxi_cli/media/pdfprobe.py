"""Load every page of a PDF in a child process held to a memory and time limit.

pdfium parses a page's content (nested forms included) when it loads the
page, before muxi can look at anything: a 2 kB PDF of forms that draw forms
takes gigabytes right there. So each PDF is first opened, and each of its
pages loaded and counted, in a child process with an address-space limit;
only a PDF that passes is read in this process. Files are read once (and
cached), so the extra process costs little.

Run as ``python -m muxi_cli.media.pdfprobe LIMIT_MB`` with the PDF on stdin:
exit 0 when every page loads, 2 when pdfium cannot open the file at all (the
caller's own reader says why); any other end (out of memory, killed) is the
PDF's fault.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading

from muxi_cli.errors import MediaError

#: The child's address space: pdfium, Python and one loaded page must fit.
PROBE_MEMORY_MB = 1024
#: How long loading every page may take.
PROBE_SECONDS = 30.0
#: Digests of PDFs that passed in this process: a file is checked when it is
#: stored (``pdf_meta``) and read again for its text (``pdf_extract``) in the
#: same turn; the second child would only repeat the first one's answer.
_PASSED: dict[str, None] = {}
_PASSED_MAX = 256
_PASSED_LOCK = threading.Lock()


def probe(data: bytes, who: str) -> None:
    """Raise :class:`MediaError` unless every page of ``data`` loads within the
    child's limits (damaged PDFs are left to the caller's own checks)."""
    digest = hashlib.sha256(data).hexdigest()
    with _PASSED_LOCK:
        if digest in _PASSED:
            return
    try:
        done = subprocess.run(
            [sys.executable, "-m", "muxi_cli.media.pdfprobe", str(PROBE_MEMORY_MB)],
            input=data,
            capture_output=True,
            timeout=PROBE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MediaError(
            f"{who} took more than {PROBE_SECONDS:.0f} s to open",
            "this looks like a PDF bomb; print the document to a new PDF",
        ) from None
    if done.returncode in (0, 2):  # 2: pdfium refused it; the caller says why
        with _PASSED_LOCK:
            _PASSED[digest] = None
            while len(_PASSED) > _PASSED_MAX:
                del _PASSED[next(iter(_PASSED))]  # the oldest first
        return
    raise MediaError(
        f"{who} is too complex to read (opening its pages needs more than {PROBE_MEMORY_MB} MB)",
        "this looks like a PDF bomb; print the document to a new PDF",
    )


def _main(limit_mb: int) -> int:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 1024 * 1024, limit_mb * 1024 * 1024))
    import pypdfium2

    data = sys.stdin.buffer.read()
    try:
        pdf = pypdfium2.PdfDocument(data)
    except Exception:
        return 2
    for index in range(len(pdf)):
        try:
            page = pdf[index]
        except pypdfium2.PdfiumError:
            continue  # a damaged page: the reader skips it too
        page.close()
    return 0


if __name__ == "__main__":
    sys.exit(_main(int(sys.argv[1])))
