"""Readiness: may a load balancer or an orchestrator send this replica traffic?

``/health`` says the process is alive (restart it if not). ``GET /ready`` (no
auth) says it can serve: 200 when the database answers, the storage it uses
answers, and it is not draining; 503 with ``{"ready": false, "reason": ...}``
otherwise, so HAProxy or Kubernetes take it out of rotation until it recovers
(or for good, once SIGTERM started the drain). The checks:

- ``draining``: the run registry refuses new turns (SIGTERM received);
- ``database``: the sessions store answers a trivial query (``ping()`` when the
  store has one, else one listing of a user that cannot exist), and the key
  store can be read;
- ``storage``: object storage, when the media store or the memory store is in a
  bucket, answers a HEAD request (a missing object is an answer; a refused key
  or an unreachable server is not). Local folders need no check: the database
  check covers the disk.

Each check has :data:`CHECK_TIMEOUT` seconds; the blocking ones run in worker
threads so a hung database cannot stall the event loop. Every process has a
replica id (``rep_<hex>``, new per start) that ``/ready`` reports and every
answer carries in ``X-Muxi-Replica``, so an operator (and the tests) can see
which replica behind a load balancer answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from muxi_cli.server.context import ServerContext

#: Seconds one check may take before the replica counts as not ready.
CHECK_TIMEOUT = 3.0
#: The header every answer of this process carries.
REPLICA_HEADER = "x-muxi-replica"
#: A user id no key can act as (ids are letters, digits and ``. _ @ + -``).
_NOBODY = "\x00ready-probe"


class ReplicaHeaderMiddleware:
    """Adds ``X-Muxi-Replica`` to every HTTP answer (pure ASGI: streams pass untouched).

    The id is the run registry's (``rep_<hex>``, new per start): the one the event
    log and the control tables name this replica by."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app = app
        self._header = (REPLICA_HEADER.encode(), replica.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self._header]}
            await send(message)

        await self.app(scope, receive, tagged)


async def readiness(ctx: ServerContext) -> tuple[bool, dict[str, Any]]:
    """Whether this replica is ready, and the body ``/ready`` answers."""
    body: dict[str, Any] = {"ready": False, "replica": ctx.registry.replica}
    if ctx.registry.draining:
        body["reason"] = "draining: the replica is shutting down"
        return False, body
    checks: dict[str, str] = {}
    failures: list[str] = []
    for name, probes in (("database", _database(ctx)), ("storage", _storage(ctx))):
        if not probes:
            checks[name] = "local" if name == "storage" else "none"
            continue
        results = await asyncio.gather(*(_run(p) for p in probes))
        errors = [e for e in results if e is not None]
        checks[name] = "ok" if not errors else "failed"
        failures += [f"{name}: {e}" for e in errors]
    body["checks"] = checks
    if failures:
        body["reason"] = "; ".join(failures)
        return False, body
    body["ready"] = True
    return True, body


async def _run(probe: Callable[[], object]) -> str | None:
    """None when ``probe`` answered in time, else what went wrong (no secrets: the
    messages name stores and statuses, never keys)."""
    try:
        await asyncio.wait_for(asyncio.to_thread(probe), CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer in {CHECK_TIMEOUT:g} s"
    except Exception as exc:
        return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return None


def _database(ctx: ServerContext) -> list[Callable[[], object]]:
    probes: list[Callable[[], object]] = [ctx.keys.refresh]
    store = getattr(ctx.runtime, "store", None)
    ping = getattr(store, "ping", None)
    if callable(ping):
        probes.append(ping)
    elif store is not None and hasattr(store, "list_sessions"):
        probes.append(lambda: store.list_sessions(user_id=_NOBODY, limit=1))
    return probes


def _storage(ctx: ServerContext) -> list[Callable[[], object]]:
    probes: list[Callable[[], object]] = []
    media: Any = ctx.media_store or getattr(getattr(ctx.runtime, "store", None), "media", None)
    if media is not None and str(media.describe()).startswith("s3://"):
        probes.append(media.check_reachable)
    memory_uri = getattr(getattr(ctx.runtime, "memory", None), "uri", None)
    if isinstance(memory_uri, str) and memory_uri.startswith("s3://"):
        probes.append(_memory_probe(memory_uri))
    return probes


def _memory_probe(uri: str) -> Callable[[], object]:
    """A HEAD request into the memory store's bucket with the memory URI's settings."""
    from muxi_cli.stores.lance_uri import parse  # deferred: only a store in a bucket
    from muxi_cli.stores.media_s3 import S3Client, S3Location  # deferred: as above

    where = parse(uri)
    bucket, _, prefix = where.uri.split("://", 1)[1].split("?", 1)[0].partition("/")
    options = where.storage_options
    location = S3Location(
        bucket, prefix, options.get("aws_endpoint"), options.get("aws_region", "us-east-1")
    )

    def probe() -> object:
        client = S3Client(location, timeout=CHECK_TIMEOUT)
        try:
            return client.exists("meta.lance/.muxi-ready")
        finally:
            client.close()

    return probe
