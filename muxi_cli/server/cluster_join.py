"""A server joins the replicas sharing its database (server/cluster.py), or stays alone."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from muxi_cli.errors import ConfigError
from muxi_cli.server.cluster import HEARTBEAT, Cluster
from muxi_cli.stores import pgconn

if TYPE_CHECKING:
    from muxi_cli.server.context import ServerContext

#: This replica's heartbeat interval in seconds (every replica records its own).
HEARTBEAT_ENV = "MUXI_REPLICA_HEARTBEAT"


async def join_cluster(ctx: ServerContext, database_url: str | None = None) -> Cluster | None:
    """With a shared database: this server joins its replicas (its turns become
    reachable from them, its rate limits count with theirs); without one: None,
    nothing changes."""
    url = pgconn.database_url(database_url)
    if url is None:
        return None
    from muxi_cli.server.pg_limits import share_limits  # deferred: only replicas need it

    registry = ctx.registry
    cluster = Cluster(
        url, registry, replica_id=getattr(registry, "replica", None), heartbeat=heartbeat()
    )
    await cluster.join()
    registry.cluster = cluster
    share_limits(ctx, url)
    return cluster


def heartbeat() -> float:
    """This replica's heartbeat interval: ``MUXI_REPLICA_HEARTBEAT`` seconds, else 5."""
    raw = os.environ.get(HEARTBEAT_ENV, "").strip()
    try:
        value = float(raw) if raw else HEARTBEAT
    except ValueError:
        raise ConfigError(
            f"{HEARTBEAT_ENV}={raw!r} is not a number of seconds", hint="e.g. 5"
        ) from None
    if not 0.05 <= value <= 300:
        raise ConfigError(f"{HEARTBEAT_ENV} must be between 0.05 and 300 seconds")
    return value
