"""Sessions and their messages in SQLite (WAL mode).

One file, ``paths.sessions_db_path()``, mode 0600, created on first use.
Every write is its own committed transaction, so a process killed in the
middle of a reply keeps everything streamed up to its last update; the next
:meth:`SessionStore.recover_interrupted` marks such replies ``interrupted``.

The store is synchronous and thread-safe (one connection behind a lock):
writes are tiny, so async callers may call it directly. Several processes
may share the file (WAL, busy timeout).

Each message holds its content ``parts`` (protocol/messages.py) as JSON;
media bytes go to the :class:`~muxi_cli.stores.media.MediaStore` next to the
database (``store.media``) and the parts hold references. ``content`` is the
parts' text, kept for search and text-only readers.

The media a session's messages hold are listed in ``session_media`` with
the session's owner (its user id, whose namespace of the media store holds
the bytes): :meth:`SessionStore.session_media` lists them, deleting a session
deletes the files no other session of that owner refers to, and session
search also matches the text derived from them (their ``text`` form).

Message roles: ``user``, ``assistant``, ``tool`` (a tool result: ``content``
is the result text, ``tool_call_id`` the call it answers, ``meta`` has
``server``/``tool``/``ok``/``duration_ms``) and ``system`` (notes such as a
summary). Status: ``streaming`` (an assistant reply being written),
``complete``, ``interrupted``, ``failed``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxi_cli import paths
from muxi_cli.errors import MuxiError, NotFoundError, UsageError
from muxi_cli.protocol.messages import MediaRef, Part, legacy_parts, media_of
from muxi_cli.protocol.records import SessionInfo, SessionMessage
from muxi_cli.stores.media import MediaStore
from muxi_cli.stores.session_export import export_session, load_export
from muxi_cli.stores.session_media import (
    adopt_stored,
    drop_unused,
    insert_media_rows,
    session_media_ids,
    session_refs,
)
from muxi_cli.stores.session_rows import (
    ID_RE,
    LIST_HINT,
    MESSAGE_COLS,
    SESSION_COLS,
    clean_title,
    dumps,
    info_from_row,
    like_escape,
    loads,
    merged_parts,
    message_from_row,
    new_session_id,
    not_found,
    parts_json,
    row_parts,
    title_from,
    writer_alive,
    writer_tag,
)
from muxi_cli.stores.session_schema import has_fts, migrate
from muxi_cli.stores.sqldialect import SQLITE, DbConn, Dialect, insert_id
from muxi_cli.stores.sqlite_tx import immediate, use_wal

if TYPE_CHECKING:
    from muxi_cli.config.schema import MediaConfig

__all__ = [
    "ROLES",
    "STATUSES",
    "SessionStore",
    "export_session",
    "load_export",
    "new_session_id",
    "title_from",
]

ROLES = frozenset({"user", "assistant", "tool", "system"})
STATUSES = frozenset({"streaming", "complete", "interrupted", "cancelled", "failed"})


class SessionStore:
    """Sessions and messages in one SQLite file. Thread-safe; opened on first use.

    stores/pg_sessions.py keeps them in PostgreSQL with the same code: what the
    engines spell differently is in :attr:`_dialect` (stores/sqldialect.py).
    """

    _dialect: Dialect = SQLITE

    def __init__(
        self, path: Path | None = None, *, media_config: MediaConfig | None = None
    ) -> None:
        self.path = Path(path) if path is not None else paths.sessions_db_path()
        #: Where the sessions are: the SQLite file, or a PostgreSQL URL (pg_sessions.py).
        self.database: Path | str = self.path
        #: The bytes of the sessions' media parts: ``media/`` beside the database
        #: (its index always; the bytes unless ``media_config`` or MUXI_MEDIA_URL
        #: names object storage). ``media.for_owner(user_id)`` is a user's part.
        self.media = MediaStore.from_config(media_config, self.path.parent / "media")
        self._lock = threading.RLock()
        self._db: DbConn | None = None
        self._fts = False
        self._last_dt: datetime | None = None
        #: Ids of replies this store is streaming right now.
        self._live: set[int] = set()

    # -- plumbing -------------------------------------------------------------

    def _open(self) -> DbConn:
        paths.ensure_dir(self.path.parent)
        if not self.path.exists():
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        try:
            conn = sqlite3.connect(
                str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._db_error(exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            use_wal(conn)
            # WAL + NORMAL: every commit survives a crash of the process.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            old_version = migrate(conn, self.path)
            self._fts = has_fts(conn)
            if old_version == 4:
                adopt_stored(conn, self.media)
        except sqlite3.Error as exc:
            conn.close()
            raise self._db_error(exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _db_error(self, exc: BaseException) -> MuxiError:
        return MuxiError(
            f"The sessions database {self.path} could not be used: {exc}.",
            hint="Check the file's permissions and free disk space; if it is damaged, "
            "move it aside and muxi will start a new one.",
        )

    @contextlib.contextmanager
    def _read(self) -> Iterator[DbConn]:
        with self._lock:
            if self._db is None:
                self._db = self._open()
            try:
                yield self._db
            except self._dialect.error as exc:
                raise self._db_error(exc) from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[DbConn]:
        """One committed transaction (``BEGIN IMMEDIATE`` so writers never deadlock)."""
        with self._read() as conn, immediate(conn):
            yield conn

    def _now(self) -> str:
        """UTC timestamp in microseconds, strictly increasing within this store."""
        dt = datetime.now(UTC)
        if self._last_dt is not None and dt <= self._last_dt:
            dt = self._last_dt + timedelta(microseconds=1)
        self._last_dt = dt
        return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")

    def close(self) -> None:
        """Close the connection (the next call opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self.media.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions -------------------------------------------------------------

    def create_session(
        self,
        user_id: str,
        title: str = "",
        agent: str | None = None,
        session_id: str | None = None,
    ) -> SessionInfo:
        if not user_id:
            raise UsageError("A session needs a user id.", hint="Pass --user ID.")
        if session_id is not None and not ID_RE.match(session_id):
            raise UsageError(
                f"Invalid session id {session_id!r}.",
                hint="Use 1-64 letters, digits, '-' or '_', or leave it out to get a new id.",
            )
        with self._write() as conn:
            now = self._now()
            sid = session_id or new_session_id()
            while (
                session_id is None
                and conn.execute("SELECT 1 FROM sessions WHERE id = ?", (sid,)).fetchone()
            ):
                sid = new_session_id()
            try:
                conn.execute(
                    "INSERT INTO sessions (id, user_id, title, agent, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (sid, user_id, clean_title(title), agent, now, now),
                )
            except self._dialect.integrity_error as exc:
                raise UsageError(
                    f"Session id {sid!r} is already in use.",
                    hint="Choose another id, or leave it out to get a new one.",
                ) from exc
        return SessionInfo(sid, clean_title(title), user_id, agent, now, now, 0)

    def get_session(self, session_id: str, user_id: str | None = None) -> SessionInfo:
        """The session; :class:`NotFoundError` if missing or not owned by ``user_id``."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {SESSION_COLS} FROM sessions s WHERE s.id = ?", (session_id,)
            ).fetchone()
        if row is None or (user_id is not None and row["user_id"] != user_id):
            raise not_found(session_id)
        return info_from_row(row)

    def resolve_id(self, prefix: str, user_id: str | None = None) -> str:
        """The one session id starting with ``prefix`` (the ``s_`` may be left out)."""
        prefix = prefix.strip()
        if not prefix:
            raise UsageError("No session id given.", hint=LIST_HINT)
        owner = "" if user_id is None else " AND user_id = ?"
        owner_args: tuple[str, ...] = () if user_id is None else (user_id,)
        with self._read() as conn:
            exact = conn.execute(
                f"SELECT id FROM sessions WHERE id = ?{owner}", (prefix, *owner_args)
            ).fetchone()
            if exact is not None:
                return str(exact["id"])
            found: dict[str, str] = {}
            for p in (prefix, "s_" + prefix) if not prefix.startswith("s_") else (prefix,):
                rows = conn.execute(
                    "SELECT id, title FROM sessions WHERE substr(id, 1, ?) = ?"
                    f"{owner} ORDER BY updated_at DESC LIMIT 11",
                    (len(p), p, *owner_args),
                ).fetchall()
                found.update((r["id"], r["title"]) for r in rows)
        if not found:
            raise not_found(prefix)
        if len(found) == 1:
            return next(iter(found))
        listing = "; ".join(
            f"{sid} ({title_from(title)[:30] or 'untitled'})"
            for sid, title in list(found.items())[:10]
        )
        more = ", ..." if len(found) > 10 else ""
        raise UsageError(
            f"Session id {prefix!r} is ambiguous: it matches {listing}{more}.",
            hint="Type more characters of the id.",
        )

    def last_session(self, user_id: str) -> SessionInfo | None:
        """The user's most recently updated session, if any."""
        found = self.list_sessions(user_id=user_id, limit=1)
        return found[0] if found else None

    def list_sessions(
        self,
        user_id: str | None = None,
        query: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[SessionInfo]:
        """Sessions, newest first; ``query`` matches titles, message text and the
        text derived from the sessions' attachments (substring)."""
        where: list[str] = []
        args: list[Any] = []
        d = self._dialect
        if user_id is not None:
            where.append("s.user_id = ?")
            args.append(user_id)
        q = (query or "").strip()
        if "\x00" in q:
            # SQLite's FTS query parser stops at a NUL ("unterminated string").
            raise UsageError(
                "a search text cannot contain NUL characters", hint="remove them from the query"
            )
        if q:
            like = f"%{like_escape(q)}%"
            if self._uses_fts(q):
                content = (
                    "SELECT m.session_id FROM messages m WHERE m.id IN "
                    "(SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
                )
                content_arg = '"' + q.replace('"', '""') + '"'
            else:
                content = (
                    f"SELECT m.session_id FROM messages m WHERE m.content {d.like} ? ESCAPE '\\'"
                )
                content_arg = like
            attached = self.media.for_owner(user_id).text_matches(like, any_owner=user_id is None)
            media_sql = ""
            if attached:
                media_sql = (
                    " OR s.id IN (SELECT session_id FROM session_media"
                    f" WHERE media_id IN ({d.json_values}))"
                )
            where.append(f"(s.title {d.like} ? ESCAPE '\\' OR s.id IN ({content}){media_sql})")
            args += [like, content_arg]
            if attached:
                args.append(json.dumps(attached))
        sql = f"SELECT {SESSION_COLS} FROM sessions s"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY s.updated_at DESC, s.{d.rowid} DESC LIMIT ? OFFSET ?"
        args += [max(0, int(limit)), max(0, int(offset))]
        with self._read() as conn:
            return [info_from_row(r) for r in conn.execute(sql, args).fetchall()]

    def _lock_media(self, conn: DbConn, owner: str) -> None:
        """Serialize the writes that add or drop references to ``owner``'s media
        (SQLite's write lock already does; see pg_sessions.py)."""

    def _uses_fts(self, query: str) -> bool:
        # The trigram index finds substrings of three characters or more.
        with self._read():
            return self._fts and len(query) >= 3

    def rename_session(
        self, session_id: str, title: str, user_id: str | None = None
    ) -> SessionInfo:
        self.get_session(session_id, user_id)
        with self._write() as conn:
            conn.execute(
                "UPDATE sessions SET title = ?, updated_at = ? WHERE id = ?",
                (clean_title(title), self._now(), session_id),
            )
        return self.get_session(session_id, user_id)

    def set_agent(self, session_id: str, agent: str) -> None:
        """Record the agent that now answers in the session."""
        with self._write() as conn:
            cur = conn.execute("UPDATE sessions SET agent = ? WHERE id = ?", (agent, session_id))
            if cur.rowcount == 0:
                raise not_found(session_id)

    def delete_session(self, session_id: str, user_id: str | None = None) -> None:
        """Delete the session and all its messages, and the media files no
        other session of its owner refers to (with their derived forms)."""
        with self._write() as conn:
            row = conn.execute(
                f"SELECT user_id FROM sessions WHERE id = ?{self._dialect.for_update}",
                (session_id,),
            ).fetchone()
            if row is None or (user_id is not None and row["user_id"] != user_id):
                raise not_found(session_id)
            self._lock_media(conn, row["user_id"])
            used = session_media_ids(conn, session_id)
            conn.execute("DELETE FROM session_media WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            owner = row["user_id"]
            drop_unused(conn, self.media.for_owner(owner), owner, used)

    def session_media(self, session_id: str, user_id: str | None = None) -> list[MediaRef]:
        """Every file the session's messages hold (tool results' too), each once,
        in the order they were sent; :class:`NotFoundError` as :meth:`get_session`."""
        self.get_session(session_id, user_id)
        with self._read() as conn:
            return session_refs(conn, session_id)

    # -- messages -------------------------------------------------------------

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
    ) -> SessionMessage:
        """Append a message (committed at once); the first user message titles the session.

        Without ``parts`` the message's parts are those ``content``,
        ``tool_calls`` and ``tool_call_id`` describe.
        """
        if role not in ROLES:
            raise UsageError(f"Unknown message role {role!r}.", hint=f"Use one of {sorted(ROLES)}.")
        if status not in STATUSES:
            raise UsageError(
                f"Unknown message status {status!r}.", hint=f"Use one of {sorted(STATUSES)}."
            )
        with self._write() as conn:
            row = conn.execute(
                f"SELECT title, agent, user_id FROM sessions WHERE id = ?{self._dialect.for_update}",
                (session_id,),
            ).fetchone()
            if row is None:
                raise not_found(session_id)
            seq = int(
                conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = ?",
                    (session_id,),
                ).fetchone()[0]
            )
            now = self._now()
            if parts is None:
                ok = bool((meta or {}).get("ok", True))
                parts = legacy_parts(role, content, tool_calls or [], tool_call_id, is_error=not ok)
            if media_of(parts):
                self._lock_media(conn, row["user_id"])
            msg_id = insert_id(
                conn,
                "INSERT INTO messages (session_id, seq, role, content, agent, run_id, status,"
                " created_at, updated_at, tool_calls, tool_call_id, meta, writer, parts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, seq, role, content, agent, run_id, status, now, now,
                 dumps(tool_calls), tool_call_id, dumps(meta),
                 writer_tag() if status == "streaming" else None, parts_json(parts)),
            )  # fmt: skip
            if status == "streaming":
                self._live.add(msg_id)
            insert_media_rows(conn, session_id, msg_id, row["user_id"], parts)
            title = row["title"] or (title_from(content) if role == "user" else "")
            conn.execute(
                "UPDATE sessions SET updated_at = ?, title = ?, agent = COALESCE(agent, ?)"
                " WHERE id = ?",
                (now, title, agent if role == "assistant" else None, session_id),
            )
        return SessionMessage(
            id=msg_id,
            session_id=session_id,
            seq=seq,
            role=role,
            content=content,
            agent=agent,
            run_id=run_id,
            status=status,
            created_at=now,
            tool_calls=list(tool_calls or []),
            tool_call_id=tool_call_id,
            meta=dict(meta or {}),
            parts=list(parts),
        )

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: str | None = None,
        meta: dict[str, Any] | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None:
        """Change a message (committed at once). ``meta`` is merged key by key into the old meta.

        New ``content`` or ``tool_calls`` replace the text and tool call parts;
        the message's media parts stay.
        """
        if status is not None and status not in STATUSES:
            raise UsageError(
                f"Unknown message status {status!r}.", hint=f"Use one of {sorted(STATUSES)}."
            )
        with self._write() as conn:
            row = conn.execute(
                "SELECT session_id, role, content, tool_calls, tool_call_id, meta, parts"
                f" FROM messages WHERE id = ?{self._dialect.for_update}",
                (message_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"No message {message_id}.", hint="It may have been deleted with its session."
                )
            sets = ["updated_at = ?"]
            now = self._now()
            args: list[Any] = [now]
            if content is not None:
                sets.append("content = ?")
                args.append(content)
            if status is not None:
                sets += ["status = ?", "writer = ?"]
                args += [status, writer_tag() if status == "streaming" else None]
                if status == "streaming":
                    self._live.add(message_id)
                else:
                    self._live.discard(message_id)
            if meta is not None:
                sets.append("meta = ?")
                args.append(dumps({**loads(row["meta"], {}), **meta}))
            if tool_calls is not None:
                sets.append("tool_calls = ?")
                args.append(dumps(tool_calls))
            if content is not None or tool_calls is not None:
                text = row["content"] if content is None else content
                sets.append("parts = ?")
                args.append(parts_json(merged_parts(row_parts(row), text, tool_calls)))
            conn.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*args, message_id))
            conn.execute(
                "UPDATE sessions SET updated_at = ? WHERE id = ?", (now, row["session_id"])
            )

    def messages(
        self, session_id: str, limit: int | None = None, *, user_id: str | None = None
    ) -> list[SessionMessage]:
        """The session's messages, oldest first; with ``limit``, only the newest ``limit``."""
        self.get_session(session_id, user_id)
        sql = f"SELECT {MESSAGE_COLS} FROM messages WHERE session_id = ? ORDER BY seq DESC"
        args: list[Any] = [session_id]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(0, int(limit)))
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [message_from_row(r) for r in reversed(rows)]

    def recover_interrupted(self, older_than_s: float | None = None) -> int:
        """Mark replies left ``streaming`` by a crash as ``interrupted``; return how many.

        Replies still being written are left alone: this store's own, and
        those of another process on this host that is still running. With
        ``older_than_s``, only replies not updated for that many seconds.
        """
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, writer, updated_at FROM messages WHERE status = 'streaming'"
            ).fetchall()
            cutoff = None
            if older_than_s is not None:
                cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
                cutoff_text = cutoff.isoformat(timespec="microseconds").replace("+00:00", "Z")
            dead = [
                int(r["id"])
                for r in rows
                if int(r["id"]) not in self._live
                and not writer_alive(r["writer"])
                and (cutoff is None or r["updated_at"] < cutoff_text)
            ]
            for msg_id in dead:
                conn.execute(
                    "UPDATE messages SET status = 'interrupted', writer = NULL WHERE id = ?",
                    (msg_id,),
                )
        return len(dead)

    def usage_totals(self, session_id: str) -> dict[str, Any]:
        """Tokens and cost summed over the ``usage`` entries in the messages' meta.

        ``meta["usage"]`` may be one dict or a list of them (one per model call).
        ``cost_usd`` is ``None`` when no entry knew its cost.
        """
        with self._read() as conn:
            rows = conn.execute(
                "SELECT meta FROM messages WHERE session_id = ? AND meta LIKE '%\"usage\"%'",
                (session_id,),
            ).fetchall()
        totals: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0, "cost_usd": None}
        for row in rows:
            usage = loads(row["meta"], {}).get("usage")
            for entry in usage if isinstance(usage, list) else [usage]:
                if not isinstance(entry, dict):
                    continue
                totals["input_tokens"] += int(entry.get("input_tokens") or 0)
                totals["output_tokens"] += int(entry.get("output_tokens") or 0)
                if entry.get("cost_usd") is not None:
                    totals["cost_usd"] = (totals["cost_usd"] or 0.0) + float(entry["cost_usd"])
        return totals
