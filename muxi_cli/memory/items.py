"""Stored memory rows as the API shows them (:class:`~muxi_cli.protocol.records.MemoryItem`)."""

from __future__ import annotations

from datetime import UTC, datetime

from muxi_cli.memory import facts
from muxi_cli.protocol.records import MemoryItem
from muxi_cli.stores.lance_records import Row


def iso(ts: float | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds")


def to_item(row: Row, score: float | None = None) -> MemoryItem:
    return MemoryItem(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        kind=str(row["kind"]),
        text=str(row["text"]),
        created_at=iso(row.get("created_at")),
        importance=round(float(row.get("importance") or 0.0), 4),
        source=row.get("source"),
        score=None if score is None else round(score, 4),
        agent=row.get("agent"),
        superseded_by=row.get("superseded_by"),
        # Rows written before schema version 2 have these inferred from their text.
        subject=facts.subject_for(row),
        dates=facts.dates_for(row),
        valid_from=iso(row.get("valid_from")),
        valid_until=iso(row.get("valid_until")),
        questions=facts.questions_of(row),
    )
