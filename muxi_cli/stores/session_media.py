"""The sessions database's record of media (table ``session_media``).

One row per media part of a message (tool results' included) with the
session's owner: the user whose namespace of the media store holds the
bytes. It lists a session's files without reading its messages, and says
which files a deleted session leaves unused.
"""

from __future__ import annotations

import json
import logging

from muxi_cli.errors import MuxiError, NotFoundError
from muxi_cli.protocol.messages import MediaRef, Part, PartError, media_of
from muxi_cli.stores.media import MediaStore
from muxi_cli.stores.sqldialect import DbConn, DbRow, dialect_of

log = logging.getLogger("muxi.sessions")


def insert_media_rows(
    conn: DbConn, session_id: str, message_id: int, owner: str, parts: list[Part]
) -> None:
    """One ``session_media`` row per media part of a message."""
    sql = dialect_of(conn).upsert(
        "session_media",
        ("session_id", "message_id", "pos", "media_id", "owner", "ref"),
        ("message_id", "pos"),
    )
    for pos, part in enumerate(media_of(parts)):
        conn.execute(
            sql,
            (session_id, message_id, pos, part.media.id, owner,
             json.dumps(part.media.to_dict(), ensure_ascii=False)),
        )  # fmt: skip


def refs_from_rows(rows: list[DbRow]) -> list[MediaRef]:
    """The references of ``session_media`` rows, each id once (its first use)."""
    out: dict[str, MediaRef] = {}
    for row in rows:
        if row["media_id"] in out:
            continue
        try:
            out[row["media_id"]] = MediaRef.from_dict(json.loads(row["ref"]))
        except (ValueError, PartError):
            continue
    return list(out.values())


def session_refs(conn: DbConn, session_id: str) -> list[MediaRef]:
    rows = conn.execute(
        "SELECT media_id, ref FROM session_media WHERE session_id = ? ORDER BY message_id, pos",
        (session_id,),
    ).fetchall()
    return refs_from_rows(rows)


def session_media_ids(conn: DbConn, session_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT media_id FROM session_media WHERE session_id = ?", (session_id,)
    ).fetchall()
    return [str(r["media_id"]) for r in rows]


def drop_unused(conn: DbConn, media: MediaStore, owner: str, media_ids: list[str]) -> None:
    """Delete from ``media`` (the owner's view) the files no session of
    ``owner`` refers to any more. Run inside the transaction that deleted
    the rows, so no message of the owner can start referring to a file
    between the check and its deletion."""
    for media_id in media_ids:
        still = conn.execute(
            "SELECT 1 FROM session_media WHERE owner = ? AND media_id = ? LIMIT 1",
            (owner, media_id),
        ).fetchone()
        if still is not None:
            continue
        try:
            media.delete(media_id)
        except NotFoundError:
            pass  # deleted on its own already
        except MuxiError as exc:
            # The session is gone either way; the file stays in the owner's
            # store (and quota) until deleted there.
            log.warning("could not delete media %s: %s", media_id[:12], exc.message)


def adopt_stored(conn: DbConn, media: MediaStore) -> None:
    """Give each session's owner the files its messages hold that the store
    kept before it had an index (sessions schema 4, an older muxi)."""
    rows = conn.execute(
        "SELECT owner, media_id, ref FROM session_media ORDER BY owner, message_id, pos"
    ).fetchall()
    for owner in sorted({r["owner"] for r in rows}):
        view = media.for_owner(owner)
        for ref in refs_from_rows([r for r in rows if r["owner"] == owner]):
            try:
                view.adopt(ref)
            except MuxiError as exc:
                log.warning("could not index media %s: %s", ref.id[:12], exc.message)
