#!/usr/bin/env python3
"""The container's HEALTHCHECK: exit 0 when muxi serve's ``/health`` says ok.

Standard library only (the slim image has no curl). Proxy variables are
ignored: the check goes to this container's own loopback, never through a proxy.
A draining server (shutting down) counts as unhealthy.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("MUXI_SERVE_PORT", "8765")
    url = f"http://127.0.0.1:{port}/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=4) as response:
            body = json.loads(response.read(65536))
    except (OSError, ValueError) as exc:
        print(f"muxi-healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if body.get("ok") is True and not body.get("draining"):
        return 0
    print(f"muxi-healthcheck: {url}: {body}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
