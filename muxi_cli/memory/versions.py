"""The versions of a memory: what it superseded and what superseded it.

A superseded row keeps ``superseded_by = <newer id>``; following the links one
way gives what replaced a memory, the other way (rows pointing at it) what it
replaced. ``muxi memory show`` displays both, ``forget`` deletes a memory with
the older versions, and ``add --replaces`` makes a link by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime

from muxi_cli.errors import NotFoundError, UsageError
from muxi_cli.stores.lance_records import MemoryRecords, Row


def link(row: Row) -> dict[str, str]:
    """A version as ``MemoryItem.replaced``/``replaced_by`` lists it."""
    stamp = row.get("created_at")
    created = (
        datetime.fromtimestamp(float(stamp), UTC).isoformat(timespec="seconds") if stamp else ""
    )
    return {"id": str(row["id"]), "text": str(row["text"]), "created_at": created}


async def older(records: MemoryRecords, user_id: str, head: Row) -> list[Row]:
    """``head`` and every row it superseded, directly or not: head first, then the
    rest newest first (one query per generation)."""
    found_all: list[Row] = []
    todo, seen = [head["id"]], {head["id"]}
    while todo:
        found = [r for r in await records.replaced_by(user_id, todo) if r["id"] not in seen]
        seen.update(r["id"] for r in found)
        found_all += found
        todo = [r["id"] for r in found]
    found_all.sort(key=lambda r: float(r.get("created_at") or 0.0), reverse=True)
    return [head, *found_all]


async def newer(records: MemoryRecords, user_id: str, head: Row) -> list[Row]:
    """The rows that replaced ``head``, following ``superseded_by``: newest first."""
    chain: list[Row] = []
    seen = {head["id"]}
    successor = head.get("superseded_by")
    while successor and successor not in seen:
        seen.add(successor)
        try:
            row = await records.get(user_id, successor)
        except NotFoundError:
            break  # forgotten or pruned: the chain ends here
        chain.append(row)
        successor = row.get("superseded_by")
    return chain[::-1]


async def replaceable(records: MemoryRecords, owner: str, kind: str, old: str) -> str:
    """The full id of ``owner``'s current memory ``old`` (an id or a unique prefix) that
    a new memory of ``kind`` may replace; a usage error says why another cannot."""
    row = await records.get(owner, old)  # scoped: another user's id is not found
    if row.get("superseded_by"):
        raise UsageError(
            f"memory {row['id']} was already replaced by {row['superseded_by']}",
            f"replace the current version: --replaces {row['superseded_by']}",
        )
    if row.get("kind") != kind:
        raise UsageError(
            f"memory {row['id']} is a {row.get('kind')}, not a {kind}",
            f"a memory replaces one of its own kind (--kind {row.get('kind')})",
        )
    return str(row["id"])
