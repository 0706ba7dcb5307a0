"""The key file of ``muxi serve``: admin and user keys, stored as salted hashes.

A local store (the server authenticates with it, ``muxi keys`` administers it
through :mod:`muxi_cli.runtime.admin`).

A key looks like ``muxi_<id>_<secret>``: ``id`` (10 hex chars) names the record,
``secret`` is 32 random bytes (url-safe base64). Only ``HMAC-SHA256(salt,
secret)`` with a per-key random salt is stored, in
:func:`muxi_cli.paths.server_keys_path` (mode 0600).

Why a fast hash: the secret carries 256 bits of entropy, so nobody can guess it
from a leaked hash whatever the hash speed; a slow KDF (bcrypt, scrypt) would
only add tens of milliseconds to every request. The per-key salt keeps two
stores from sharing hashes. Comparison uses :func:`hmac.compare_digest`.

``MUXI_ADMIN_KEY`` pins one more admin key (id ``env``) from the environment;
it is never written to disk. It must be at least as strong as a generated key
would need to be (:func:`pinned_key_problem`); ``muxi serve`` refuses a weak one.

A record may carry ``scopes`` (see :mod:`muxi_cli.config.access`); a record
without them gets the formation's defaults for its role.

The store re-reads its file when it changes (checked with one ``stat`` per
lookup), so ``muxi keys create`` / ``revoke`` take effect on a running server.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from muxi_cli import paths
from muxi_cli.errors import ConfigError, NotFoundError, UsageError
from muxi_cli.protocol.events import now_iso
from muxi_cli.protocol.records import known_fields

Role = Literal["admin", "user"]
ROLES: tuple[Role, ...] = ("admin", "user")
ENV_ADMIN_KEY = "MUXI_ADMIN_KEY"
ENV_KEY_ID = "env"
KEY_PREFIX = "muxi"
#: How often ``last_used_at`` is written back to the file (seconds).
TOUCH_FLUSH_INTERVAL = 30.0
#: What a key id may be (they are hex): anything else is no key, never a lookup (a NUL
#: in a WebSocket auth frame failed the PostgreSQL key store's query).
_KEY_ID_RE = re.compile(r"^[0-9A-Za-z]{1,64}$")
_USER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_DUMMY_SALT = b"\x00" * 16


def valid_user_id(user_id: str) -> bool:
    """User ids are 1-128 chars of letters, digits and ``._@+-``."""
    return bool(_USER_ID_RE.match(user_id))


#: A pinned key needs this many characters and this much estimated entropy
#: (a generated key's secret has 43 characters and 256 bits).
PINNED_MIN_LENGTH = 32
PINNED_MIN_BITS = 128
PINNED_HINT = (
    "use at least 32 random characters, e.g. "
    "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


def pinned_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak to pin as ``MUXI_ADMIN_KEY`` (None when it is fine).

    The estimate is deliberately simple: length times the bits of the character
    classes used, and no more than 4 bits per character for keys made of few
    distinct characters or a repeated pattern (``aaaa...``, ``abcabc...``).
    """

    if len(key) < PINNED_MIN_LENGTH:
        return f"it has {len(key)} characters; at least {PINNED_MIN_LENGTH} are needed"
    if key != key.strip() or any(c.isspace() or not c.isprintable() for c in key):
        return "it contains spaces or control characters"
    alphabet = 0
    for chars, size in (
        ("abcdefghijklmnopqrstuvwxyz", 26),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26),
        ("0123456789", 10),
    ):
        if any(c in chars for c in key):
            alphabet += size
    if any(not c.isalnum() for c in key):
        alphabet += 32
    distinct = len(set(key))
    per_char = math.log2(max(2, min(alphabet, distinct * 2)))
    for unit in range(1, len(key) // 2 + 1):  # a repeated pattern carries one unit's worth
        if len(key) % unit == 0 and key[:unit] * (len(key) // unit) == key:
            per_char = per_char * unit / len(key)
            break
    if distinct < 8 or len(key) * per_char < PINNED_MIN_BITS:
        return "it is too predictable (too few distinct characters or a repeated pattern)"
    return None


def _digest(salt: bytes, secret: str) -> str:
    return hmac.new(salt, secret.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(slots=True)
class KeyRecord:
    """One stored key (never the secret itself)."""

    id: str
    role: Role
    user_id: str
    created_at: str
    salt: str = ""
    hash: str = ""
    label: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None
    #: The key's own scopes; None = the formation's default for its role.
    scopes: list[str] | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public_dict(self) -> dict[str, Any]:
        """What ``muxi keys list`` and ``GET /v1/keys`` show: no salt, no hash."""
        out = asdict(self)
        out.pop("salt")
        out.pop("hash")
        out["active"] = self.active
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRecord:
        return cls(**known_fields(cls, data))


#: Key ids of callers authenticated by a JWT (server/jwt_auth.py): ``jwt:<user>``.
JWT_KEY_PREFIX = "jwt:"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id and role, the user it acts as, its own scopes."""

    key_id: str
    role: Role
    user_id: str
    #: Scopes the key (or token) carries; None = the formation's default.
    scopes: tuple[str, ...] | None = None

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@dataclass(slots=True)
class _Snapshot:
    stamp: tuple[int, int] | None = None
    records: dict[str, KeyRecord] = field(default_factory=dict)


class KeyStore:
    """The server's key file plus the optional pinned ``MUXI_ADMIN_KEY``."""

    #: Lookups wait on a database server (the server runs them off its event loop).
    remote = False

    def __init__(self, path: Path | None = None, *, env_admin_key: str | None = None) -> None:
        self.path = path or paths.server_keys_path()
        if env_admin_key is None:
            env_admin_key = os.environ.get(ENV_ADMIN_KEY) or None
        self._env_salt = secrets.token_bytes(16)
        self._env_hash = _digest(self._env_salt, env_admin_key) if env_admin_key else None
        self._snap = _Snapshot()
        self._touched: dict[str, str] = {}
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------

    @property
    def pinned_admin(self) -> bool:
        return self._env_hash is not None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _read(self) -> dict[str, KeyRecord]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the server key file {self.path}: {exc}",
                hint="fix or delete the file (deleting it makes `muxi serve` create new keys)",
            ) from exc
        items = raw.get("keys", []) if isinstance(raw, dict) else []
        return {r["id"]: KeyRecord.from_dict(r) for r in items if isinstance(r, dict) and "id" in r}

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read."""
        stamp = self._stamp()
        if stamp == self._snap.stamp and (stamp is not None or not self._snap.records):
            return
        with self._lock:
            self._snap = _Snapshot(stamp, self._read())

    def records(self) -> list[KeyRecord]:
        self.refresh()
        out = list(self._snap.records.values())
        for rec in out:
            if rec.id in self._touched:
                rec.last_used_at = self._touched[rec.id]
        return sorted(out, key=lambda r: r.created_at)

    def is_empty(self) -> bool:
        """True when no key was ever created (the first start)."""
        self.refresh()
        return not self._snap.records

    # -- writing -------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, KeyRecord]]:
        """Read-modify-write under a file lock; yields the records to mutate."""
        paths.ensure_dir(self.path.parent)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - Windows: best effort
                pass
            records = self._read()
            yield records
            body = {"version": 1, "keys": [asdict(r) for r in records.values()]}
            paths.write_private(self.path, json.dumps(body, indent=2))
            with self._lock:
                self._snap = _Snapshot(self._stamp(), records)
        finally:
            os.close(fd)

    def create(
        self,
        role: str,
        user_id: str,
        label: str | None = None,
        scopes: list[str] | None = None,
    ) -> tuple[KeyRecord, str]:
        """Create a key; returns the record and the secret (shown once, never stored)."""
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}", hint="use --role admin or --role user")
        if not valid_user_id(user_id):
            raise UsageError(
                f"invalid user id {user_id!r}",
                hint="user ids are 1-128 letters, digits and . _ @ + - (starting with a letter or digit)",
            )
        if scopes is not None:
            from muxi_cli.config.access import check_scopes  # deferred: loads pydantic

            try:
                scopes = check_scopes(scopes)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            if role == "admin":
                raise UsageError(
                    "admin keys may do everything; scopes are for user keys",
                    hint="drop --scope, or create a user key (--role user --user ID)",
                )
        key_id = secrets.token_hex(5)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        rec = KeyRecord(
            id=key_id,
            role=role,
            user_id=user_id,
            created_at=now_iso(),
            salt=salt.hex(),
            hash=_digest(salt, secret),
            label=label,
            scopes=scopes,
        )
        with self._locked() as records:
            records[key_id] = rec
        return rec, f"{KEY_PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> KeyRecord:
        with self._locked() as records:
            rec = records.get(key_id)
            if rec is None:
                raise NotFoundError(
                    f"no server key with id {key_id!r}", hint="see the ids with `muxi keys list`"
                )
            if rec.revoked_at is None:
                rec.revoked_at = now_iso()
        return rec

    def bootstrap(self, user_id: str) -> list[tuple[KeyRecord, str]]:
        """On first start: one admin key (unless pinned by env) and one user key."""
        if not self.is_empty():
            return []
        created = []
        if not self.pinned_admin:
            created.append(self.create("admin", "admin", label="first start"))
        created.append(self.create("user", user_id, label="first start"))
        return created

    # -- checking ------------------------------------------------------------------

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal for a presented key, or None (missing, unknown, revoked)."""
        if not token or len(token) > 512:
            return None
        if self._env_hash is not None and hmac.compare_digest(
            _digest(self._env_salt, token), self._env_hash
        ):
            return Principal(ENV_KEY_ID, "admin", "admin")
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX or not _KEY_ID_RE.match(parts[1]):
            return None
        rec = self._lookup(parts[1])
        if rec is None:
            _digest(_DUMMY_SALT, parts[2])  # similar work for unknown ids
            return None
        try:
            salt = bytes.fromhex(rec.salt)
        except ValueError:
            return None
        if not hmac.compare_digest(_digest(salt, parts[2]), rec.hash) or not rec.active:
            return None
        self._touch(rec.id)
        scopes = tuple(rec.scopes) if isinstance(rec.scopes, list) else None
        return Principal(rec.id, rec.role, rec.user_id, scopes)

    def is_active(self, key_id: str) -> bool:
        """Whether key ``key_id`` still works (re-reads the file if it changed)."""
        if key_id == ENV_KEY_ID and self._env_hash is not None:
            return True
        if key_id.startswith(JWT_KEY_PREFIX):
            return True  # a bearer JWT is not in the key file: its own expiry governs it
        rec = self._lookup(key_id)
        return rec is not None and rec.active

    def _lookup(self, key_id: str) -> KeyRecord | None:
        """The current record of ``key_id`` (the file re-read if it changed)."""
        self.refresh()
        return self._snap.records.get(key_id)

    def _touch(self, key_id: str) -> None:
        self._touched[key_id] = now_iso()
        if time.monotonic() - self._last_flush >= TOUCH_FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        """Write remembered ``last_used_at`` times back to the file."""
        self._last_flush = time.monotonic()
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        try:
            with self._locked() as records:
                for key_id, when in touched.items():
                    if key_id in records:
                        records[key_id].last_used_at = when
        except OSError:  # pragma: no cover - a read-only disk must not break requests
            pass
