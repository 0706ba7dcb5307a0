"""State shared by every command: the chosen profile and formation file."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from pathlib import Path

    from muxi_cli.config.schema import Formation
    from muxi_cli.runtime.base import Runtime

T = TypeVar("T")


@dataclass(slots=True)
class CliState:
    profile: str | None = None
    config: str | None = None


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    obj = root.obj
    if isinstance(obj, CliState):
        return obj
    return CliState()


def formation_or_none(ctx: typer.Context) -> Formation | None:
    """The formation, or ``None`` when it cannot be loaded (commands that work without one)."""
    from muxi_cli.config.loader import load_formation
    from muxi_cli.errors import ConfigError

    try:
        return load_formation(state(ctx).config).formation
    except ConfigError:
        return None


def local_formation(ctx: typer.Context, command: str, why: str) -> tuple[Formation, Path]:
    """This machine's formation and its folder, for commands that work on local resources.

    Raises :class:`UsageError` when a remote profile is selected: ``muxi {command}``
    ``{why}``, so it cannot act through a server.
    """
    from pathlib import Path

    from muxi_cli.config.loader import load_formation
    from muxi_cli.errors import UsageError
    from muxi_cli.runtime.factory import LOCAL, selected_profile

    st = state(ctx)
    profile = selected_profile(st.profile)
    if profile != LOCAL:
        raise UsageError(
            f"`muxi {command}` {why}, so it works with the local profile only "
            f"(the selected profile {profile!r} is a remote muxi)",
            "Run it on the machine that runs `muxi serve`, or add `--profile local`.",
        )
    loaded = load_formation(st.config)
    base_dir = loaded.path.parent if loaded.path is not None else Path.cwd()
    return loaded.formation, base_dir


@contextlib.asynccontextmanager
async def runtime_for(ctx: typer.Context, *, start_tools: bool = True) -> AsyncIterator[Runtime]:
    """Open the runtime the command should use (local or a remote profile)."""
    from muxi_cli.runtime.factory import open_runtime

    st = state(ctx)
    runtime = await open_runtime(profile=st.profile, config_path=st.config, start_tools=start_tools)
    try:
        yield runtime
    finally:
        await runtime.aclose()


def run_with_runtime(
    ctx: typer.Context,
    work: Callable[[Runtime], Awaitable[T]],
    *,
    start_tools: bool = False,
) -> T:
    """Run ``work`` with the command's runtime; MuxiErrors become a panel and an exit code."""
    import asyncio

    from muxi_cli.cli.output import fail
    from muxi_cli.errors import MuxiError

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
        from muxi_cli.runtime.users import local_user_id

        return str(getattr(runtime, "user_id", None) or local_user_id())
    me = await whoami()
    own = str(me.get("user_id") or "")
    if user is None or user == own:
        return own
    if me.get("role") != "admin":
        from muxi_cli.errors import UsageError

        raise UsageError(
            f"the key of profile {runtime.label!r} acts as user {own!r} only, not {user!r}",
            "naming another user with --user needs an admin key; leave --user out",
        )
    return user
