"""Build the runtime a front end should use."""

from __future__ import annotations

import os

from muxi_cli.runtime.base import Runtime
from muxi_cli.runtime.profiles import URL_ENV, URL_PROFILE, active_profile_name

LOCAL = "local"


def selected_profile(profile: str | None) -> str:
    """The profile to use: the argument, ``MUXI_PROFILE``, the server ``MUXI_URL``
    names (with ``MUXI_API_KEY``), the active one, or ``local``."""
    if profile:
        return profile
    env = os.environ.get("MUXI_PROFILE")
    if env:
        return env
    if os.environ.get(URL_ENV):
        return URL_PROFILE
    return active_profile_name() or LOCAL


async def open_runtime(
    profile: str | None = None,
    config_path: str | None = None,
    *,
    start_tools: bool = True,
) -> Runtime:
    """Open a local runtime, or a remote one for a named connection profile."""
    name = selected_profile(profile)
    if name == LOCAL:
        from muxi_cli.runtime.local import LocalRuntime  # deferred: loads asyncio

        return await LocalRuntime.open(config_path=config_path, start_tools=start_tools)
    from muxi_cli.runtime.remote import RemoteRuntime  # deferred: loads asyncio

    return await RemoteRuntime.open_profile(name)
