"""The server's keys in the shared PostgreSQL database, for replicas of ``muxi serve``.

The same store as :class:`~muxi_cli.stores.server_keys.KeyStore` (the same
records, salted hashes and checks), kept in the ``muxi_keys`` table instead of
a file. Every lookup reads the key's row, so a key revoked through any replica
(or ``muxi keys revoke`` with ``MUXI_DATABASE_URL`` set) is refused by every
replica on its next request, and an open stream of it ends at its next key
check. One indexed row per request costs about as much as the file's ``stat``
plus a loopback round trip.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict

from muxi_cli.errors import MuxiError
from muxi_cli.stores import pgconn
from muxi_cli.stores.pg_control import PgLink
from muxi_cli.stores.server_keys import KeyRecord, KeyStore

#: ``pg_advisory_xact_lock`` key of the first-start keys ("muxi_key").
BOOTSTRAP_LOCK = 0x6D7578695F6B6579

log = logging.getLogger("muxi.server")


def key_store(database_url: str | None = None, *, env_admin_key: str | None = None) -> KeyStore:
    """The server's keys: in the shared database when a URL is set
    (``database_url`` or ``MUXI_DATABASE_URL``), else in the key file."""
    url = pgconn.database_url(database_url)
    if url is None:
        return KeyStore(env_admin_key=env_admin_key)
    return PgKeyStore(url, env_admin_key=env_admin_key)


def _dump(rec: KeyRecord) -> str:
    return json.dumps(asdict(rec), sort_keys=True)


class PgKeyStore(KeyStore):
    """Keys in the ``muxi_keys`` table of the database at ``url``."""

    remote = True

    def __init__(
        self, url: str, *, env_admin_key: str | None = None, link: PgLink | None = None
    ) -> None:
        super().__init__(env_admin_key=env_admin_key)
        self.url = url
        self._link = link or PgLink(url)

    def __repr__(self) -> str:
        return f"PgKeyStore({pgconn.redacted(self.url)!r})"

    def refresh(self) -> None:
        """Nothing to re-read: every lookup asks the database."""

    def _lookup(self, key_id: str) -> KeyRecord | None:
        rows = self._link.execute("SELECT record FROM muxi_keys WHERE id = %s", (key_id,))
        return KeyRecord.from_dict(json.loads(rows[0][0])) if rows else None

    def _all(self) -> dict[str, KeyRecord]:
        rows = self._link.execute("SELECT record FROM muxi_keys ORDER BY created_at, seq")
        recs = [KeyRecord.from_dict(json.loads(r[0])) for r in rows]
        return {r.id: r for r in recs}

    def records(self) -> list[KeyRecord]:
        out = list(self._all().values())
        for rec in out:
            if rec.id in self._touched:
                rec.last_used_at = self._touched[rec.id]
        return sorted(out, key=lambda r: r.created_at)

    def is_empty(self) -> bool:
        return not self._link.execute("SELECT 1 FROM muxi_keys LIMIT 1")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, KeyRecord]]:
        """Read-modify-write in one transaction that holds the table against writers."""
        with self._link.conn() as conn, conn.transaction():
            conn.execute("LOCK TABLE muxi_keys IN SHARE ROW EXCLUSIVE MODE")
            rows = conn.execute("SELECT id, record FROM muxi_keys").fetchall()
            before = {str(r[0]): str(r[1]) for r in rows}
            records = {k: KeyRecord.from_dict(json.loads(v)) for k, v in before.items()}
            yield records
            for key_id, rec in records.items():
                body = _dump(rec)
                if before.get(key_id) != body:
                    conn.execute(
                        "INSERT INTO muxi_keys (id, created_at, record) VALUES (%s, %s, %s) "
                        "ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                        (key_id, rec.created_at, body),
                    )

    def bootstrap(self, user_id: str) -> list[tuple[KeyRecord, str]]:
        """The first-start keys, made once however many replicas start together."""
        with self._link.conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (BOOTSTRAP_LOCK,))
            return super().bootstrap(user_id)

    def flush(self) -> None:
        """Write ``last_used_at`` back; a database that does not answer must not fail
        the request that happened to trigger it (the times are kept for the next try)."""
        touched = dict(self._touched)
        try:
            super().flush()
        except MuxiError as exc:  # pgconn.connect's error
            self._touched = {**touched, **self._touched}
            log.warning("could not write keys' last use: %s", exc)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] != "psycopg":
                raise
            self._touched = {**touched, **self._touched}
            log.warning("could not write keys' last use: %s", exc)

    def close(self) -> None:
        self.flush()
        self._link.close()
