"""Who "the user" is when muxi runs locally."""

from __future__ import annotations

import getpass
import os


def local_user_id() -> str:
    """``MUXI_USER_ID``, else the OS user name, else ``local``."""
    env = os.environ.get("MUXI_USER_ID")
    if env:
        return env
    try:
        return getpass.getuser() or "local"
    except Exception:
        return "local"
