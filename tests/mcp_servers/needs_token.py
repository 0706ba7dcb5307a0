"""The demo server, once its token file exists; before that it complains and exits
(a server that fails to start until the user fixes something, then retries).

python tests/mcp_servers/needs_token.py TOKEN_FILE
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if not Path(sys.argv[1]).exists():
    sys.stderr.write(f"needs_token: no token file at {sys.argv[1]}, cannot continue\n")
    sys.exit(1)

from demo_server import build

build("needs_token").run()
