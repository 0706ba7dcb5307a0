"""A chat app child that talks to a muxi server as one key's user (``serve --web``).

The child reaches the server the way a script does without a profile:
``MUXI_URL`` names the server and ``MUXI_API_KEY`` holds the key, in its
environment only: the key never sits on a command line (``ps``) nor in a file.
It gets a home of its own (a temporary folder, removed when it ends). The server's own secrets are not
passed on (:attr:`ChildSpec.scrub`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from muxi_cli.runtime.profiles import API_KEY_ENV, URL_ENV
from muxi_cli.web.child import ChildSpec, chat_app_argv


@dataclass
class RemoteChild:
    """The spec of one child and the home folder to remove once it has ended."""

    spec: ChildSpec
    home: Path

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


def remote_child(url: str, key: str) -> RemoteChild:
    """A child running the chat app against ``url`` with ``key``."""
    # A home of its own: the child's prompt history, settings and logs stay
    # apart from the server's and from other sessions'.
    home = Path(tempfile.mkdtemp(prefix="muxi-web-"))  # 0700
    spec = ChildSpec(
        chat_app_argv(),
        # The scrub drops the server's MUXI_PROFILE, so MUXI_URL selects the server.
        env={"MUXI_HOME": str(home), URL_ENV: url, API_KEY_ENV: key},
        scrub=True,
    )
    return RemoteChild(spec, home)


def server_url(host: str, port: int) -> str:
    """The URL a child on this machine reaches the server at, from the local address."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
