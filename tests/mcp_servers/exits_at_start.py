"""An MCP 'server' that complains on stderr and exits before serving."""

import sys

sys.stderr.write("exits_at_start: missing API token, cannot continue\n")
sys.stderr.flush()
sys.exit(1)
