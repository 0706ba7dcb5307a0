"""State shared by every command: the chosen profile and formation file.

Commands run their work with :func:`run_with_runtime` (a :class:`Runtime`, local or
remote) or, for the local store administration, :func:`run_admin`
(:mod:`muxi_cli.runtime.admin`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from muxi_cli.cli.output import fail
from muxi_cli.cli.state import CliState
from muxi_cli.errors import ConfigError, MuxiError, UsageError

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation
    from muxi_cli.runtime.admin import MemoryAdmin
    from muxi_cli.runtime.base import Runtime

T = TypeVar("T")


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    obj = root.obj
    if isinstance(obj, CliState):
        return obj
    return CliState()


def formation_or_none(ctx: typer.Context) -> Formation | None:
    """The formation, or ``None`` when it cannot be loaded (commands that work without one)."""
    from muxi_cli.config.loader import load_formation  # deferred: keeps start-up light

    try:
        return load_formation(state(ctx).config).formation
    except ConfigError:
        return None


def notice(st: CliState, message: str) -> None:
    """One line on stderr under ``muxi -v``; nothing otherwise."""
    if st.verbose:
        import sys  # deferred: only when there is something to say

        print(f"muxi: {message}", file=sys.stderr, flush=True)


def uses_host(st: CliState) -> bool:
    """The local profile, with warm hosts switched on (``MUXI_HOST``, ``host: enabled``)."""
    from muxi_cli.runtime.factory import LOCAL, selected_profile  # deferred: start-up

    if selected_profile(st.profile) != LOCAL:
        return False
    from muxi_cli.host.client import host_enabled  # deferred: only local commands

    return host_enabled(st.config)


@contextlib.asynccontextmanager
async def runtime_for(
    ctx: typer.Context, *, start_tools: bool = True, host: bool = True
) -> AsyncIterator[Runtime]:
    """Open the runtime the command should use: a remote profile's, else this
    formation's warm host (docs/host.md), else a LocalRuntime in this process,
    after which a host is started in the background for the next command.
    ``host=False``: never the warm host (a retry after :func:`refused_by_draining_host`)."""
    from muxi_cli.runtime.factory import open_runtime  # deferred: keeps start-up light

    st = state(ctx)
    runtime: Runtime | None = None
    use_host = host and uses_host(st)
    environ = dict(os.environ)  # as the command started: the host's key and environment
    if use_host:
        from muxi_cli.host.connect import open_host_runtime  # deferred: local commands only

        runtime = await open_host_runtime(st.config, notice=lambda m: notice(st, m))
    in_process = runtime is None
    if runtime is None:
        runtime = await open_runtime(
            profile=st.profile, config_path=st.config, start_tools=start_tools
        )
    try:
        yield runtime
    finally:
        await runtime.aclose()
        if use_host and in_process:
            from muxi_cli.host.client import start_in_background  # deferred: as above

            start_in_background(st.config, environ=environ)


def refused_by_draining_host(runtime: Runtime, exc: MuxiError) -> bool:
    """Before its turn started, the warm host refused it (it began draining after
    this client found it) or could no longer be connected to (it has exited):
    nothing ran there, so the command runs the turn in this process instead."""
    if getattr(runtime, "label", None) != "host":
        return False
    if exc.code == "shutting_down":
        return True
    from muxi_cli.runtime.client import never_connected  # deferred: as the host's runtime

    # a connect failure only: after a read failure the turn may have started there
    return exc.code == "connection_failed" and never_connected(exc)


def run_admin(ctx: typer.Context, command: str, work: Callable[[MemoryAdmin], Awaitable[T]]) -> T:
    """Run ``work`` on this machine's memory store (local profile only)."""
    import asyncio  # deferred: asyncio is slow to import

    from muxi_cli.runtime.admin import (
        open_memory_admin,  # deferred: the memory and store modules (~30 ms)
    )

    st = state(ctx)

    async def main() -> T:
        async with open_memory_admin(st.profile, st.config, command) as admin:
            return await work(admin)

    try:
        return asyncio.run(main())
    except MuxiError as exc:
        raise fail(exc) from None


def run_with_runtime(
    ctx: typer.Context,
    work: Callable[[Runtime], Awaitable[T]],
    *,
    start_tools: bool = False,
) -> T:
    """Run ``work`` with the command's runtime; MuxiErrors become a panel and an exit code."""
    import asyncio  # deferred: asyncio is slow to import

    async def main() -> T:
        async with runtime_for(ctx, start_tools=start_tools) as runtime:
            return await work(runtime)

    try:
        return asyncio.run(main())
    except MuxiError as exc:
        raise fail(exc) from None


async def acting_user(runtime: Runtime, user: str | None) -> str:
    """The user a command acts for, as the runtime will see it (for requests and messages).

    Locally: ``--user``, else the local user id. Through a profile: the key's user
    (an admin key: ``--user`` if given, else the server's default for admins). A
    user key that names someone else is a usage error: the server would quietly
    act as the key's own user, and the command would report the wrong one.
    """
    whoami = getattr(runtime, "whoami", None)
    if whoami is None:
        if user:
            return user
        from muxi_cli.runtime.users import local_user_id  # deferred: keeps start-up light

        return str(getattr(runtime, "user_id", None) or local_user_id())
    me = await whoami()
    own = str(me.get("user_id") or "")
    if user is None or user == own:
        return own
    if me.get("role") != "admin":
        raise UsageError(
            f"the key of profile {runtime.label!r} acts as user {own!r} only, not {user!r}",
            "naming another user with --user needs an admin key; leave --user out",
        )
    return user
