"""Persist a streaming reply as it arrives, so a crash keeps what was said."""

from __future__ import annotations

import time
from typing import Any, Protocol

from muxi_cli.protocol.messages import Part
from muxi_cli.protocol.records import SessionMessage
from muxi_cli.stores.media import MediaStore


class MessageStore(Protocol):
    """The part of ``stores.sessions.SessionStore`` the engine writes to."""

    #: Where the bytes of media parts go (attachments, tool results' images).
    media: MediaStore

    def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        agent: str | None = None,
        run_id: str | None = None,
        status: str = "complete",
        tool_calls: list[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        meta: dict[str, Any] | None = None,
        parts: list[Part] | None = None,
    ) -> SessionMessage: ...

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: str | None = None,
        meta: dict[str, Any] | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None: ...

    def messages(self, session_id: str, limit: int | None = None) -> list[SessionMessage]: ...


class ReplyWriter:
    """Writes one assistant message: created on the first text with status
    ``streaming``, flushed at most every ``interval`` seconds, closed with its
    final status (``complete``, ``cancelled`` or ``failed``; a crash leaves
    ``streaming``, which the next start marks ``interrupted``)."""

    def __init__(
        self,
        store: MessageStore | None,
        session_id: str,
        agent: str,
        run_id: str,
        interval: float = 0.2,
    ) -> None:
        self._store = store
        self._session_id = session_id
        self._agent = agent
        self._run_id = run_id
        self._interval = interval
        self._parts: list[str] = []
        self._row: int | None = None
        self._last_flush = 0.0
        self._dirty = False
        self.closed = False

    @property
    def written(self) -> bool:
        """Whether a row exists (or will on close): some text was streamed."""
        return self._row is not None or bool(self._parts)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def append(self, text: str) -> None:
        self._parts.append(text)
        if self._store is None:
            return
        now = time.monotonic()
        if self._row is None:
            row = self._store.add_message(
                self._session_id,
                "assistant",
                self.text,
                agent=self._agent,
                run_id=self._run_id,
                status="streaming",
            )
            self._row = row.id
            self._last_flush = now
            self._dirty = False
        elif now - self._last_flush >= self._interval:
            self._store.update_message(self._row, content=self.text)
            self._last_flush = now
            self._dirty = False
        else:
            self._dirty = True

    def close(
        self,
        status: str = "complete",
        tool_calls: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if self.closed:
            return
        self.closed = True
        if self._store is None:
            return
        if self._row is None:
            if not self._parts and not tool_calls:
                return
            self._store.add_message(
                self._session_id,
                "assistant",
                self.text,
                agent=self._agent,
                run_id=self._run_id,
                status=status,
                tool_calls=tool_calls,
                meta=meta,
            )
            return
        self._store.update_message(
            self._row, content=self.text, status=status, tool_calls=tool_calls, meta=meta
        )
