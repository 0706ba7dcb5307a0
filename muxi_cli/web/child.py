"""The chat app's child process, and the relay between it and the browser.

textual-serve's :class:`AppService` starts the app and speaks Textual's web
driver protocol on the child's stdin/stdout; this module only says which
command to run (an argument list, never a shell string) and with which
environment, and turns the browser's WebSocket messages into calls on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from muxi_cli.web import APP_PROCESS_FLAG

log = logging.getLogger("muxi.web")

#: Variables never passed to a chat app child: the server's own secrets. The
#: child talks to a formation or a server with the key it is given, nothing else.
_SERVER_SECRETS = ("MUXI_ADMIN_KEY", "MUXI_API_KEY")


@dataclass
class ChildSpec:
    """How to start one chat app: its command line and what to add to its environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    #: Remove the server's secrets from the inherited environment (``muxi serve --web``).
    scrub: bool = False

    def environment(self, base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        if self.scrub:
            for name in _SERVER_SECRETS:
                env.pop(name, None)
        env.update(self.env)
        env.update(extra)
        return env


def chat_app_argv(profile: str | None = None, config: str | None = None) -> list[str]:
    """``python -m muxi_cli [-P PROFILE] [--config FILE] web --app-process``."""
    argv = [sys.executable, "-m", "muxi_cli"]
    if profile:
        argv += ["--profile", profile]
    if config:
        argv += ["--config", os.path.abspath(config)]
    return [*argv, "web", APP_PROCESS_FLAG]


class ChatAppService(AppService):
    """An :class:`AppService` that execs an argument list with a given environment.

    textual-serve runs a shell command line with the server's environment; a
    list needs no quoting of paths, and the environment is the session's.
    """

    def __init__(self, spec: ChildSpec, extra_env: dict[str, str], **kw: Any) -> None:
        super().__init__(" ".join(spec.argv), **kw)
        self._spec = spec
        self._extra_env = extra_env

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
        base = self._build_environment(width=width, height=height)
        env = self._spec.environment(base, self._extra_env)
        self._process = process = await asyncio.create_subprocess_exec(
            *self._spec.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        self._stdin = process.stdin
        return process

    async def stop(self) -> None:
        """Ask the app to quit; kill it if it has not gone after a few seconds."""
        process = self._process
        try:
            await asyncio.wait_for(super().stop(), timeout=5)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()


def to_int(value: str | None, default: int, low: int = 10, high: int = 1000) -> int:
    """A terminal size from the query string, clamped to something sane."""
    try:
        return max(low, min(high, int(value or default)))
    except ValueError:
        return default


async def relay(
    service: AppService, messages: AsyncIterator[str], send_text: Callable[[str], Awaitable[Any]]
) -> None:
    """Feed the browser's messages to the app until the browser goes away.

    The messages are textual.js's JSON envelopes: ``["stdin", text]``,
    ``["resize", {width, height}]``, ``["ping", t]``, ``["focus"]``, ``["blur"]``.
    Anything else is ignored, as textual-serve does.
    """
    async for message in messages:
        try:
            envelope = json.loads(message)
        except ValueError:
            continue
        if not isinstance(envelope, list) or not envelope:
            continue
        kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
        if kind == "stdin" and isinstance(data, str):
            await service.send_bytes(data.encode("utf-8"))
        elif kind == "resize" and isinstance(data, dict):
            width = to_int(str(data.get("width")), 80)
            height = to_int(str(data.get("height")), 24)
            await service.set_terminal_size(width, height)
        elif kind == "ping":
            await send_text(json.dumps(["pong", data]))
        elif kind == "blur":
            await service.blur()
        elif kind == "focus":
            await service.focus()


class Children:
    """The chat apps running now, so a shutdown can stop every one of them."""

    def __init__(self) -> None:
        self.downloads = DownloadManager()
        self._running: set[ChatAppService] = set()

    def start_service(
        self,
        spec: ChildSpec,
        env: dict[str, str],
        *,
        write_bytes: Callable[[bytes], Awaitable[Any]],
        write_str: Callable[[str], Awaitable[Any]],
        close: Callable[[], Awaitable[Any]],
    ) -> ChatAppService:
        service = ChatAppService(
            spec,
            env,
            write_bytes=write_bytes,
            write_str=write_str,
            close=close,
            download_manager=self.downloads,
        )
        self._running.add(service)
        return service

    async def run(
        self,
        service: ChatAppService,
        width: int,
        height: int,
        messages: AsyncIterator[str],
        send_text: Callable[[str], Awaitable[Any]],
    ) -> None:
        """Start the app, relay until the browser leaves, then stop the app."""
        try:
            await service.start(width, height)
            await relay(service, messages, send_text)
        except (ConnectionError, RuntimeError) as exc:
            log.info("browser connection ended: %s", exc)
        finally:
            await service.stop()
            self._running.discard(service)

    async def stop_all(self) -> None:
        await asyncio.gather(*(s.stop() for s in list(self._running)), return_exceptions=True)
        self._running.clear()
