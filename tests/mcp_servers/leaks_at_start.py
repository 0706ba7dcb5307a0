"""An MCP 'server' that dies at start and prints credentials on stderr (as
crashing servers do: their command line, a DSN, a token in a traceback)."""

import os
import sys
from urllib.parse import quote

token = os.environ.get("SERVICE_TOKEN", "")
sys.stderr.write(f"argv: {' '.join(sys.argv[1:])}\n")
sys.stderr.write("auth failed for token ghp_0123456789abcdefghijklmnopqrstuvwxyz01\n")
sys.stderr.write("could not connect to postgres://app:DbPass-7731@db.internal:5432/prod\n")
sys.stderr.write(
    f"SERVICE_TOKEN={token} (encoded: {quote(token, safe='')}, cut: {token[:10]}...)\n"
)
sys.stderr.flush()
sys.exit(1)
