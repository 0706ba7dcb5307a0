"""Pruning by TTL, per-user cap and decay score."""

from __future__ import annotations

import time

from muxi_cli.memory import prune
from muxi_cli.memory.scoring import decay_score
from muxi_cli.memory.service import MemoryService

DAY = 86400.0
NOW = 1_800_000_000.0


def _row(i: str, user: str = "u", age_days: float = 0, importance: float = 0.5, uses: int = 0,
         kind: str = "fact", superseded_by: str | None = None) -> dict:  # fmt: skip
    at = NOW - age_days * DAY
    return {"id": i, "user_id": user, "kind": kind, "created_at": at, "updated_at": at,
            "last_used_at": at, "importance": importance, "use_count": uses,
            "superseded_by": superseded_by}  # fmt: skip


def test_decay_prefers_recent_important_used() -> None:
    fresh = decay_score(_row("a"), NOW)
    old = decay_score(_row("b", age_days=90), NOW)
    important = decay_score(_row("c", age_days=90, importance=1.0), NOW)
    used = decay_score(_row("d", age_days=90, uses=20), NOW)
    assert fresh > old and important > old and used > old
    assert 0.0 <= old < fresh <= 1.0


def test_ttl() -> None:
    rows = [_row("new", age_days=1), _row("old", age_days=40),
            _row("old-knowledge", age_days=400, kind="knowledge"),
            _row("old-superseded-knowledge", age_days=400, kind="knowledge", superseded_by="x")]  # fmt: skip
    items = prune.plan(rows, ttl_days=30, max_per_user=None, at=NOW)
    assert {i.row["id"]: i.reason for i in items} == {
        "old": "ttl",
        "old-superseded-knowledge": "ttl",
    }


def test_cap_takes_superseded_then_lowest_score() -> None:
    rows = [
        _row("keep-important", age_days=50, importance=1.0),
        _row("drop-weak", age_days=50, importance=0.1),
        _row("drop-superseded", age_days=0, superseded_by="keep-new"),
        _row("keep-new"),
        _row("other-user", user="v", importance=0.0, age_days=300),
    ]
    items = prune.plan(rows, ttl_days=None, max_per_user=2, at=NOW)
    assert [(i.row["id"], i.reason) for i in items] == [
        ("drop-superseded", "cap-superseded"),
        ("drop-weak", "cap"),
    ] or [(i.row["id"], i.reason) for i in items] == [
        ("drop-weak", "cap"),
        ("drop-superseded", "cap-superseded"),
    ]


async def test_prune_dry_run_then_apply(service: MemoryService) -> None:
    keep = await service.add("User likes tea", "u", importance=0.9)
    drop = await service.add("User once said hello", "u", importance=0.0)
    mine = await service.add("User likes chess", "v")
    records = await service.records()
    long_ago = time.time() - 100 * DAY
    await records.update("u", drop.id, updated_at=long_ago, last_used_at=long_ago)

    items = await prune.prune(records, ttl_days=30, max_per_user=None, dry_run=True)
    assert [i.row["id"] for i in items] == [drop.id]
    assert len(await service.list("u")) == 2  # dry run deletes nothing

    items = await prune.prune(records, ttl_days=30, max_per_user=None, dry_run=False)
    assert [i.id for i in await service.list("u")] == [keep.id]
    assert [i.id for i in await service.list("v")] == [mine.id]

    # Scoped to one user.
    await service.add("User plays go", "v", importance=0.0)
    items = await prune.prune(records, ttl_days=None, max_per_user=1, user_id="u", dry_run=False)
    assert items == []
    assert len(await service.list("v")) == 2
