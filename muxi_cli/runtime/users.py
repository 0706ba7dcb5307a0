"""Who "the user" is when muxi runs locally."""

from __future__ import annotations

from muxi_cli.stores.media import local_owner


def local_user_id() -> str:
    """``MUXI_USER_ID``, else the OS user name, else ``local``: the same user the
    media store files local media under (it sits below the runtime, so it
    holds the rule)."""
    return local_owner()
