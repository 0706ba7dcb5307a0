"""An MCP 'server' that never answers (it waits forever before serving)."""

import sys
import threading

sys.stderr.write("hangs_at_start: waiting for something that never comes\n")
sys.stderr.flush()
threading.Event().wait()
