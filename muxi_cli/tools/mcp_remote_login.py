"""OAuth logins of remote muxi users, run by ``muxi serve`` (docs/server.md).

A remote user cannot use a loopback redirect on the server's machine, so the
server runs the flow itself with its own callback route as the redirect URI:

1. ``start`` begins the authorization code flow for (server, user) and returns
   the authorization URL the user opens in their browser;
2. the browser comes back to the callback route (or the user pastes the
   address it ended on), which calls ``deliver`` with it: the pending login is
   found by the OAuth ``state``, which is unguessable and names one user;
3. the flow exchanges the code; the tokens are kept under that user only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from muxi_cli.tools.mcp_loopback import parse_redirect
from muxi_cli.tools.mcp_oauth import LoginResult, authorize

if TYPE_CHECKING:
    from muxi_cli.config.schema import MCPServerConfig

#: How long a started login waits for the browser to come back.
PENDING_TTL = 600.0


@dataclass
class Pending:
    server: str
    user: str
    url: str
    redirect: asyncio.Future[str]
    task: asyncio.Task[LoginResult]
    started: float = field(default_factory=time.monotonic)

    def state(self) -> str:
        if not self.task.done():
            return "pending"
        if self.task.cancelled():
            return "cancelled"
        exc = self.task.exception()
        return "signed in" if exc is None else f"failed: {exc}"


class RemoteLogins:
    """The logins in progress on this server, by OAuth ``state`` and by (server, user)."""

    def __init__(self) -> None:
        self._by_state: dict[str, Pending] = {}
        self._by_key: dict[tuple[str, str], Pending] = {}

    async def start(
        self, name: str, config: MCPServerConfig, user: str, redirect_uri: str
    ) -> Pending:
        """Begin a login for ``user``; returns once the authorization URL is known."""
        self._prune()
        old = self._by_key.pop((name, user), None)
        if old is not None:
            old.task.cancel()
        loop = asyncio.get_running_loop()
        url_ready: asyncio.Future[str] = loop.create_future()
        redirect: asyncio.Future[str] = loop.create_future()

        async def on_redirect(url: str) -> None:
            if not url_ready.done():
                url_ready.set_result(url)

        async def wait_redirect() -> str:
            return await asyncio.wait_for(asyncio.shield(redirect), PENDING_TTL)

        task = loop.create_task(
            authorize(name, config, user, redirect_uri, on_redirect, wait_redirect),
            name=f"mcp-login:{name}:{user}",
        )
        waiters: set[asyncio.Future[Any]] = {url_ready, task}
        await asyncio.wait(waiters, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if not url_ready.done():
            task.cancel()
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
            raise TimeoutError("the authorization server did not answer")
        url = url_ready.result()
        pending = Pending(name, user, url, redirect, task)
        state = parse_redirect(url).get("state", "")
        self._by_state[state] = pending
        self._by_key[(name, user)] = pending
        return pending

    def waiting(self, target: str) -> Pending | None:
        """The login a redirect belongs to (by its ``state``), without handing it over."""
        pending = self._by_state.get(parse_redirect(target).get("state", ""))
        return pending if pending is not None and not pending.task.done() else None

    def deliver(self, target: str, user: str | None = None) -> Pending | None:
        """Hand the browser's redirect to its login; None if no login waits for it.

        ``user``: the pasted-back form is authenticated, and must be that login's user.
        """
        state = parse_redirect(target).get("state", "")
        pending = self._by_state.get(state)
        if pending is None or (user is not None and pending.user != user):
            return None
        if not pending.redirect.done():
            pending.redirect.set_result(target)
        return pending

    def current(self, name: str, user: str) -> Pending | None:
        return self._by_key.get((name, user))

    async def finish(self, pending: Pending, timeout: float = 60.0) -> str:
        """Wait for the token exchange; the login's state afterwards."""
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(pending.task), timeout)
        return pending.state()

    def _prune(self) -> None:
        now = time.monotonic()
        for state, pending in list(self._by_state.items()):
            if pending.task.done() or now - pending.started > PENDING_TTL:
                if not pending.task.done():
                    pending.task.cancel()
                del self._by_state[state]
                if self._by_key.get((pending.server, pending.user)) is pending:
                    del self._by_key[(pending.server, pending.user)]
