"""What an MCP server may send a muxi client besides results: progress of a
tool call, log messages, and the ``roots/list`` request.

* **Progress.** The tool runner (muxi_cli/core/tool_calls.py) sets
  :data:`CURRENT_PROGRESS` to a sink around a call; :func:`progress_callback`
  reads it in the caller's task, when the call is sent, so a notification the
  SDK delivers from its reader task still reaches the turn that made the call.
  Notifications are thinned to one per :data:`PROGRESS_INTERVAL` (the last one,
  ``progress == total``, always passes) so a chatty server cannot flood the
  event stream.
* **Logging.** Server log messages go to the ``muxi.mcp.server.<name>``
  logger (the chat app's log file, a server's log); ``MUXI_MCP_LOG=LEVEL``
  (``debug``, ``info``, ``warning``...) also prints those at or above LEVEL
  on stderr. On 2026-07-28 connections a server sends log messages only to a
  client that opts in per request, so the client asks for ``info`` (or the
  lower ``MUXI_MCP_LOG`` level).
* **Roots.** The formation's file roots (``files.roots``, as the file tools
  use them) as ``file://`` roots; for a ``muxi serve`` user key they follow
  ``files.user_keys`` (``off``: none, ``per_user``: the user's folders) when
  the SDK runs the request in the caller's task (the 2026-07-28 input rounds
  of a tool call); a request outside any call gets the owner's roots.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli.redact import redact

if TYPE_CHECKING:
    from mcp.shared.dispatcher import ProgressFnT

    from muxi_cli.config.schema import FileToolsConfig

#: ``(progress, total, message)`` for the call running in this context.
ProgressSink = Callable[[float, float | None, str | None], None]
CURRENT_PROGRESS: ContextVar[ProgressSink | None] = ContextVar("muxi_mcp_progress", default=None)
#: Seconds between two progress events of one call.
PROGRESS_INTERVAL = 0.1
#: The longest progress message passed on (a server's text, in every event).
PROGRESS_MESSAGE_MAX = 200

#: MCP's syslog levels as Python logging levels.
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO + 5,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 5,
    "emergency": logging.CRITICAL + 10,
}
ENV_LOG = "MUXI_MCP_LOG"
#: Log messages of one server passed on per second (the rest are counted).
LOG_RATE = 50
_LOGGER = "muxi.mcp.server"
# A NullHandler keeps Python's last-resort handler from printing a server's
# warnings on stderr in a plain CLI run; records still reach the root's handlers.
logging.getLogger(_LOGGER).addHandler(logging.NullHandler())


def progress_callback() -> ProgressFnT | None:
    """An SDK ``progress_callback`` for the call about to be sent, or None when
    nobody listens (no progress token is sent then)."""
    sink = CURRENT_PROGRESS.get()
    if sink is None:
        return None
    last = [0.0]
    finished = [False]

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        now = time.monotonic()
        # The final notification passes the interval once: a server repeating
        # progress == total must not get past the thinning.
        final = total is not None and progress >= total and not finished[0]
        if not final and now - last[0] < PROGRESS_INTERVAL:
            return
        finished[0] = finished[0] or final
        last[0] = now
        sink(float(progress), None if total is None else float(total), _clean(message))

    return on_progress


def _clean(message: str | None) -> str | None:
    """A server's progress message on one short line, with no control characters."""
    if message is None:
        return None
    text = "".join(c if c.isprintable() else " " for c in message[: PROGRESS_MESSAGE_MAX * 2])
    return text[:PROGRESS_MESSAGE_MAX]


def stderr_level() -> int | None:
    """The level from ``MUXI_MCP_LOG`` (None: not on stderr)."""
    raw = os.environ.get(ENV_LOG, "").strip().lower()
    if not raw or raw in ("0", "off", "no", "false"):
        return None
    return LEVELS.get(raw, logging.INFO)


def opt_in_level() -> str:
    """The MCP log level the client asks servers for."""
    wanted = stderr_level()
    return "debug" if wanted is not None and wanted < logging.INFO else "info"


def _log_text(data: Any) -> str:
    if isinstance(data, str):
        return data
    import json  # deferred: only structured log data needs it

    try:
        return json.dumps(data, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(data)


def logging_callback(server: str) -> Callable[[Any], Awaitable[None]]:
    """An SDK ``logging_callback`` for one server."""
    logger = logging.getLogger(f"{_LOGGER}.{server}")
    # [start of the current second, messages passed in it, messages dropped since]
    window = [0.0, 0, 0]

    async def on_log(params: Any) -> None:
        # A chatty (or hostile) server must not fill the disk of a log or a
        # terminal: at most LOG_RATE messages a second, then a count of the rest.
        now = time.monotonic()
        if now - window[0] >= 1.0:
            if window[2]:
                logger.warning(
                    "%d log messages of this server dropped (over %d a second)", window[2], LOG_RATE
                )
            window[:] = [now, 0, 0]
        if window[1] >= LOG_RATE:
            window[2] += 1
            return
        window[1] += 1
        level_name = str(getattr(params, "level", "info"))
        level = LEVELS.get(level_name, logging.INFO)
        source = getattr(params, "logger", None)
        # A server's text can hold anything (its logger name too): secrets are
        # masked, escapes removed.
        text = _log_text(getattr(params, "data", ""))
        text = redact(f"[{source}] {text}" if source else text)
        shown = "".join(c if c.isprintable() or c in "\t" else " " for c in text)
        logger.log(level, "%s", shown)
        wanted = stderr_level()
        if wanted is not None and level >= wanted:
            sys.stderr.write(f"[mcp {server}] {level_name}: {shown}\n")
            sys.stderr.flush()

    return on_log


def root_paths(files: FileToolsConfig, base_dir: Path) -> list[Path]:
    """The formation's file roots for the caller of this context."""
    from muxi_cli.tools.base import CURRENT_CALLER  # deferred: avoids an import cycle

    caller = CURRENT_CALLER.get()
    remote = caller is not None and caller.remote_user
    if remote and files.user_keys == "off":
        return []
    out = []
    for root in files.roots or ["."]:
        path = Path(os.path.expanduser(root))
        if not path.is_absolute():
            path = base_dir / path
        if remote and files.user_keys == "per_user":
            assert caller is not None
            path = path / "users" / caller.user_id
        out.append(path.resolve())
    return out


def roots_callback(
    files: FileToolsConfig | None, base_dir: Path
) -> Callable[[Any], Awaitable[Any]] | None:
    """An SDK ``list_roots_callback`` offering the file roots (None: no roots
    capability, when the connection has no formation, as in ``muxi mcp test``)."""
    if files is None:
        return None

    async def on_list_roots(_context: Any) -> Any:
        from mcp_types import ListRootsResult, Root  # deferred: mcp_types is slow to import

        roots = [Root(uri=p.as_uri(), name=p.name or str(p)) for p in root_paths(files, base_dir)]  # type: ignore[arg-type]
        return ListRootsResult(roots=roots)

    return on_list_roots


def client_hooks(server: str, files: FileToolsConfig | None, base_dir: Path) -> dict[str, Any]:
    """The keyword arguments of ``mcp.Client`` for logging and roots."""
    hooks: dict[str, Any] = {
        "logging_callback": logging_callback(server),
        "log_level": opt_in_level(),
    }
    roots = roots_callback(files, base_dir)
    if roots is not None:
        hooks["list_roots_callback"] = roots
    return hooks
