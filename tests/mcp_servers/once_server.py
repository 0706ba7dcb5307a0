"""The demo server, but only once: later starts fail (to test restart limits).

python tests/mcp_servers/once_server.py MARKER_FILE
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

marker = Path(sys.argv[1])
if marker.exists():
    sys.stderr.write("once_server: already ran once, refusing to start again\n")
    sys.exit(2)
marker.write_text("started")

from demo_server import build  # noqa: E402

build("once").run()
