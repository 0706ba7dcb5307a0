"""Pruning: TTL, a per-user cap, and the decay score decide which memories go.

Rules (``memory.ttl_days``, ``memory.max_per_user`` in the formation):

- TTL: a ``fact`` (what extraction writes) or a superseded row whose last
  activity (use or update) is older than ``ttl_days`` goes.
- Cap: a user with more than ``max_per_user`` memories loses superseded rows
  first, then the facts with the lowest decay score (recency, importance, use).
- Knowledge entries (``kind=knowledge``, added on purpose by a user or an admin)
  are never pruned; ``muxi memory forget`` removes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from muxi_cli.memory.scoring import decay_score
from muxi_cli.stores.lance_records import MemoryRecords, Row
from muxi_cli.stores.lance_store import now

PROTECTED_KINDS = {"knowledge"}


@dataclass(slots=True)
class PruneItem:
    row: Row
    reason: str  # "ttl", "cap" or "cap-superseded"
    score: float


def _last_activity(row: Row) -> float:
    return max(float(row.get("last_used_at") or 0.0), float(row.get("updated_at") or 0.0))


def plan(
    rows: list[Row], *, ttl_days: float | None, max_per_user: int | None, at: float | None = None
) -> list[PruneItem]:
    """What would be pruned from ``rows`` (pure: nothing is deleted)."""
    at = now() if at is None else at
    doomed: dict[str, PruneItem] = {}
    prunable = [
        r
        for r in rows
        if r.get("superseded_by") is not None or r.get("kind") not in PROTECTED_KINDS
    ]
    prunable_ids = {r["id"] for r in prunable}
    if ttl_days is not None and ttl_days > 0:
        limit = at - ttl_days * 86400.0
        for row in prunable:
            if _last_activity(row) < limit:
                doomed[row["id"]] = PruneItem(row, "ttl", decay_score(row, at))
    if max_per_user is not None and max_per_user > 0:
        by_user: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            if row["id"] not in doomed:
                by_user[row["user_id"]].append(row)
        for user_rows in by_user.values():
            excess = len(user_rows) - max_per_user
            if excess <= 0:
                continue
            candidates = [r for r in user_rows if r["id"] in prunable_ids]
            # Superseded rows first, then the lowest decay score, oldest first on ties.
            candidates.sort(
                key=lambda r: (
                    r.get("superseded_by") is None,
                    decay_score(r, at),
                    float(r.get("created_at") or 0.0),
                )
            )
            for row in candidates[:excess]:
                reason = "cap-superseded" if row.get("superseded_by") is not None else "cap"
                doomed[row["id"]] = PruneItem(row, reason, decay_score(row, at))
    return sorted(doomed.values(), key=lambda item: (item.row["user_id"], item.score))


async def prune(
    records: MemoryRecords,
    *,
    ttl_days: float | None,
    max_per_user: int | None,
    user_id: str | None = None,
    dry_run: bool = True,
) -> list[PruneItem]:
    """Plan (and unless ``dry_run``, apply) pruning for one user or all users."""
    rows = await records.scan_all(user_id=user_id)
    items = plan(rows, ttl_days=ttl_days, max_per_user=max_per_user)
    if not dry_run and items:
        await records.delete_ids_all([item.row["id"] for item in items])
    return items
