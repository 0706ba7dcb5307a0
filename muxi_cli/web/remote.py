"""A chat app child that talks to a muxi server as one key's user (``serve --web``).

The chat app reaches a server through a connection profile, and profiles live
in ``profiles.yaml`` under ``MUXI_HOME``. The child gets a home of its own (a
temporary folder, removed when it ends) holding one profile for the server's
URL, and the key in ``MUXI_API_KEY``, its environment only: the key never sits
on a command line (``ps``) nor in a file. The server's own secrets are not
passed on (:attr:`ChildSpec.scrub`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
    import yaml  # deferred: PyYAML is slow to import

    home = Path(tempfile.mkdtemp(prefix="muxi-web-"))  # 0700
    # A name of its own, so no key stored in the keyring under a user's
    # profile of the same name is picked before MUXI_API_KEY.
    name = f"web-{secrets.token_hex(6)}"
    profiles = {"active": name, "profiles": {name: {"url": url, "description": "muxi serve --web"}}}
    # Where muxi_cli.paths.profiles_path() looks under MUXI_HOME.
    path = home / "config" / "profiles.yaml"
    path.parent.mkdir(mode=0o700)
    path.write_text(yaml.safe_dump(profiles), encoding="utf-8")
    os.chmod(path, 0o600)
    spec = ChildSpec(
        chat_app_argv(profile=name),
        env={"MUXI_HOME": str(home), "MUXI_API_KEY": key},
        scrub=True,
    )
    return RemoteChild(spec, home)


def server_url(host: str, port: int) -> str:
    """The URL a child on this machine reaches the server at, from the local address."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
