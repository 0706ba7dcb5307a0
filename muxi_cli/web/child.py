"""The chat app's child process, and the relay between it and the browser.

textual-serve's :class:`AppService` starts the app and speaks Textual's web
driver protocol on the child's stdin/stdout; this module only says which
command to run (an argument list, never a shell string) and with which
environment, and turns the browser's WebSocket messages into calls on it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from muxi_cli.web import APP_PROCESS_FLAG

log = logging.getLogger("muxi.web")

#: What a chat app child of ``muxi serve --web`` keeps of the server's
#: environment (:attr:`ChildSpec.scrub`): where programs and Python live, the
#: locale, temporary folders, and Textual's own settings. Nothing else: the
#: server's environment holds its secrets (``MUXI_ADMIN_KEY``, provider keys,
#: the formation's ``${VARS}``), and the child talks to the server with the key
#: it is given, nothing more.
_KEPT_NAMES = frozenset(
    (
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "VIRTUAL_ENV",
        "SYSTEMROOT",
        "NO_COLOR",
        "COLUMNS",
        "ROWS",
        "TERM",
        "COLORTERM",
        "TERM_PROGRAM",
        "TERM_PROGRAM_VERSION",
    )
)
_KEPT_PREFIXES = ("LC_", "PYTHON", "TEXTUAL")

#: The links an app may open in the browser: web pages and mail, nothing
#: with a space or control character (a browser drops tabs and newlines, so
#: ``java\tscript:`` would be ``javascript:`` to it).
_WEB_URL = re.compile(r"(?:https?://|mailto:)[^\x00-\x20\x7f]*", re.IGNORECASE)

#: At most this many chat apps run at once per server (each is a process of
#: about 94 MB): a browser that opens sockets in a loop gets a refusal, not
#: the machine's memory.
MAX_APPS = 8


def _kept(name: str) -> bool:
    return name in _KEPT_NAMES or name.startswith(_KEPT_PREFIXES)


@dataclass
class ChildSpec:
    """How to start one chat app: its command line and what to add to its environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    #: Keep only the harmless part of the inherited environment (``muxi serve --web``).
    scrub: bool = False

    def environment(self, base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if _kept(k)} if self.scrub else dict(base)
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
            preexec_fn=_ending_with_parent(),
        )
        self._stdin = process.stdin
        return process

    async def on_meta(self, data: bytes) -> None:
        """The app's requests to the browser, less the URLs that are not web pages.

        textual.js opens an ``open_url`` with ``window.open``: a ``javascript:``
        link in a reply (a model's Markdown, which a fetched page can steer)
        would run as this page, with its session, one click away from typing
        into the chat app. A terminal opens such a link as nothing.
        """
        try:
            meta = json.loads(data)
        except ValueError:
            return
        if isinstance(meta, dict) and meta.get("type") == "open_url":
            url = meta.get("url")
            if not isinstance(url, str) or not _WEB_URL.fullmatch(url):
                log.warning("not opened in the browser (not a web page): %r", str(url)[:100])
                return
        await super().on_meta(data)

    async def stop(self) -> None:
        """Ask the app to quit; kill it if it has not gone after a few seconds."""
        process = self._process
        try:
            await asyncio.wait_for(super().stop(), timeout=5)
        except Exception as exc:
            # The app's goodbye closes the browser's socket, which fails when the
            # browser has gone already (Starlette raises WebSocketDisconnect):
            # nothing to report, and the process must still be seen to.
            log.debug("chat app stopped: %r", exc)
        finally:
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()


def _ending_with_parent() -> Callable[[], None] | None:
    """What the forked child runs before exec to get SIGTERM when the server dies.

    A server killed outright (SIGKILL, OOM) never stops its chat apps, and the
    app does not notice its stdin closing: without this it would run on,
    orphaned, with the session's key. Linux only (``prctl``); elsewhere the
    server's own shutdown is what stops them. ``prctl`` is looked up here, in
    the server: between fork and exec the child must not import anything
    (another thread may have held the import lock at the fork).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # deferred: only Linux servers use it

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return functools.partial(_end_with_parent, prctl, os.getpid())


def _end_with_parent(prctl: Callable[..., int], server_pid: int) -> None:
    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != server_pid:  # the server died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


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
        except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
            continue
        if not isinstance(envelope, list) or not envelope:
            continue
        kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
        if kind == "stdin" and isinstance(data, str):
            # JSON may carry lone surrogates ("\ud800"), which UTF-8 cannot encode.
            await service.send_bytes(data.encode("utf-8", "replace"))
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


class TooManyApps(Exception):
    """The server runs :data:`MAX_APPS` chat apps already."""


class Children:
    """The chat apps running now: at most ``limit``, and a shutdown stops every one."""

    def __init__(self, limit: int = MAX_APPS) -> None:
        self.downloads = DownloadManager()
        self.limit = limit
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
        """A service for one browser connection, counted at once (its process
        starts in :meth:`run`); raises :class:`TooManyApps` when the server is full."""
        if len(self._running) >= self.limit:
            raise TooManyApps(f"{self.limit} chat apps are open already: close a tab first")
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

    def discard(self, service: ChatAppService) -> None:
        """Forget a service whose connection never opened."""
        self._running.discard(service)

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
            try:
                await service.stop()
            finally:
                self._running.discard(service)  # its slot is free however the stop went

    async def stop_all(self) -> None:
        await asyncio.gather(*(s.stop() for s in list(self._running)), return_exceptions=True)
        self._running.clear()
