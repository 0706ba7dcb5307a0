"""Which database a server shares with its replicas, and a connection to it.

``MUXI_DATABASE_URL`` (or ``muxi serve --database-url``) naming a
``postgresql://`` database puts the server's shared state there; without one
muxi keeps it in its SQLite files, as a single machine needs. psycopg is
imported only here and only when a URL is given: it is the ``postgres`` part.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from muxi_cli import parts
from muxi_cli.errors import ConfigError, MuxiError

if TYPE_CHECKING:
    import psycopg

#: The environment variable naming the shared database (wins over nothing: the
#: command-line option passes its value through it to every part of the server).
URL_ENV = "MUXI_DATABASE_URL"

_SCHEMES = ("postgresql://", "postgres://")


class DatabaseUnavailable(MuxiError):
    """The shared database cannot be reached or did not answer in time: a 503 (the
    request may be retried, on this replica or another)."""

    code = "database_unavailable"
    http_status = 503


def database_url(explicit: str | None = None) -> str | None:
    """The shared database's URL: ``explicit``, else ``MUXI_DATABASE_URL``, else None."""
    url = (explicit or os.environ.get(URL_ENV) or "").strip()
    if not url:
        return None
    if not url.startswith(_SCHEMES):
        raise ConfigError(
            f"database URL {redacted(url)!r} is not a PostgreSQL URL",
            hint="use postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset "
            f"{URL_ENV} to keep muxi's state in its local SQLite files",
        )
    return url


_QUERY_SECRET = re.compile(r"([?&](?:ssl)?password=)[^&#]*", re.I)


def redacted(url: str) -> str:
    """``url`` with its passwords replaced by ``***`` (for messages and logs): the one
    before the host (up to the last ``@``, so an unencoded ``@`` in it is hidden too,
    and an empty user name too) and ``?password=`` / ``?sslpassword=`` parameters."""
    scheme, sep, rest = url.partition("://")
    if sep:
        authority_end = len(rest.split("?", 1)[0])
        at = rest.rfind("@", 0, authority_end)
        if at >= 0:
            user, colon, _ = rest[:at].partition(":")
            rest = f"{user}{colon and ':***'}{rest[at:]}"
        url = f"{scheme}{sep}{rest}"
    return _QUERY_SECRET.sub(r"\1***", url)


def connect(url: str, *, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection[Any]:
    """A new connection to ``url``; a :class:`MuxiError` naming the server if it fails."""
    parts.require("postgres", "a PostgreSQL database")
    import psycopg  # deferred: the postgres part, only servers that share a database load it

    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10, **kwargs)
    except psycopg.Error as exc:
        raise DatabaseUnavailable(
            f"could not connect to the database {redacted(url)}: {str(exc).strip()}",
            hint=f"check {URL_ENV} (or --database-url) and that the server is up",
        ) from exc
