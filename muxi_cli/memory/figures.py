"""The store side of ``muxi memory stats``: counts, ages, decay scores and chains.

Pure functions over memory rows (as :meth:`MemoryRecords.scan_all` reads them),
standard library only; runtime/memviz.py adds the recall figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from muxi_cli.memory.items import iso
from muxi_cli.memory.scoring import decay_score
from muxi_cli.protocol.memstats import AGE_BUCKETS, DECAY_BINS, ChainLink, MemoryStats

Row = dict[str, Any]

#: Chains listed in full (the newest ones; ``chain_count`` says how many there are).
MAX_CHAINS = 20


def memory_stats(user_id: str, rows: Iterable[Row], now: float) -> MemoryStats:
    """The figures of ``user_id``'s memory ``rows`` at time ``now`` (epoch seconds)."""
    rows = list(rows)
    current = [r for r in rows if not r.get("superseded_by")]
    stats = MemoryStats(user_id=user_id, current=len(current), superseded=len(rows) - len(current))
    for row in current:
        kind = str(row.get("kind") or "")
        stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
    ages = [0] * len(AGE_BUCKETS)
    for row in current:
        days = max(0.0, (now - float(row.get("created_at") or now)) / 86400.0)
        ages[next(i for i, (_l, upto) in enumerate(AGE_BUCKETS) if days < upto)] += 1
    stats.by_age = [(label, n) for (label, _upto), n in zip(AGE_BUCKETS, ages, strict=True)]
    bins = [0] * DECAY_BINS
    scores = [decay_score(row, now) for row in current]
    for score in scores:
        bins[min(DECAY_BINS - 1, int(score * DECAY_BINS))] += 1
    stats.decay_bins = bins
    stats.decay_avg = round(sum(scores) / len(scores), 4) if scores else None
    all_chains = chains(rows)
    stats.chain_count = len(all_chains)
    stats.chains = all_chains[:MAX_CHAINS]
    stats.at = iso(now)
    return stats


def chains(rows: list[Row]) -> list[list[ChainLink]]:
    """Every fact that replaced others, as its versions oldest to newest (the current
    one last); newest chains first. A fact that replaced two at once lists both
    before it, by date. Links to rows no longer stored (forgotten) end a chain."""
    by_id = {str(r["id"]): r for r in rows}
    older: dict[str, list[str]] = {}
    for row in rows:
        successor = row.get("superseded_by")
        if successor and successor in by_id:
            older.setdefault(str(successor), []).append(str(row["id"]))
    # The head of a chain: a row that replaced something and was not itself replaced
    # (or whose successor is gone).
    heads = [
        r
        for r in rows
        if str(r["id"]) in older and (not r.get("superseded_by") or r["superseded_by"] not in by_id)
    ]
    out: list[tuple[float, list[ChainLink]]] = []
    for head in heads:
        members: list[Row] = []
        todo, seen = [str(head["id"])], {str(head["id"])}
        while todo:
            found = [by_id[i] for t in todo for i in older.get(t, []) if i not in seen]
            seen.update(str(r["id"]) for r in found)
            members += found
            todo = [str(r["id"]) for r in found]
        members.sort(key=lambda r: (float(r.get("created_at") or 0.0), str(r["id"])))
        links = [_link(r) for r in [*members, head]]
        out.append((float(head.get("created_at") or 0.0), links))
    out.sort(key=lambda item: (-item[0], item[1][-1].id))
    return [links for _at, links in out]


def _link(row: Row) -> ChainLink:
    return ChainLink(
        id=str(row["id"]), text=str(row["text"]), created_at=iso(row.get("created_at"))
    )
