"""facts.annotate and its helpers: whose fact, its dates, its questions (pure, no store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from muxi_cli.memory import facts
from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.memory.extract import remember
from muxi_cli.memory.service import MemoryService

from .conftest import formation

DAY = 86400.0


def test_annotate_fills_what_is_missing() -> None:
    row = facts.annotate(
        {"text": "User's wife Maya moved here in 2021", "vector": [1.0, 0.0]}, said_at=1.7e9
    )
    assert row["subject"] == "spouse"
    assert row["dates"] == "2021"
    assert row["questions"] is None and row["qvector"] == [1.0, 0.0]
    assert row["created_at"] == row["updated_at"] == 1.7e9

    given = facts.annotate(
        {
            "text": "User likes tea",
            "subject": "Friend",
            "dates": "",
            "created_at": 5.0,
            "vector": [1.0, 0.0],
            "qvector": [0.0, 1.0],
            "questions": ["What does the user drink?", 3, ""],
        },
        said_at=9.0,
    )
    assert given["subject"] == "friend" and given["dates"] == "" and given["created_at"] == 5.0
    assert given["questions"] == "What does the user drink?" and given["qvector"] == [0.0, 1.0]
    assert facts.annotate({"text": "User likes tea", "subject": "cousin"})["subject"] == "user"


def test_parse_since_and_questions() -> None:
    assert facts.parse_since("2026-03-15") == datetime(2026, 3, 15, tzinfo=UTC).timestamp()
    assert facts.parse_since("2026-03") == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert facts.parse_since("2026") == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    for bad in ("March", "2026-13", "0001-01-01", 2026, None, ""):
        assert facts.parse_since(bad) is None, bad
    many = [f"Question {n}?" for n in range(5)]
    assert facts.clean_questions(many) == many[:3]
    assert facts.clean_questions(["  a   b ", "a b"]) == ["a b"]
    assert facts.questions_of({"questions": "a?\nb?"}) == ["a?", "b?"]


def test_old_rows_are_read_from_their_text() -> None:
    row = {"text": "User's boss is Tom", "subject": None, "dates": None, "created_at": 0.0}
    assert facts.subject_for(row) == "manager"
    assert facts.dates_for({"text": "User was born in 1990", "dates": None}) == ["1990"]
    assert facts.dates_for({"text": "User was born in 1990", "dates": ""}) == []


async def test_remember_takes_when_it_was_said(tmp_path: Path) -> None:
    svc = MemoryService(formation(embedding="hash", uri=str(tmp_path / "s")), None)
    said = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
    stored = await remember(
        await svc.records(), HashEmbedder(), "u", "User started learning Italian",
        said_at=said, valid_from=said - 30 * DAY, subject="user",
    )  # fmt: skip
    row = await (await svc.records()).get("u", stored.row["id"])
    assert row["created_at"] == pytest.approx(said) and row["updated_at"] == pytest.approx(said)
    assert row["valid_from"] == pytest.approx(said - 30 * DAY) and row["valid_until"] is None
    item = await svc.get(stored.row["id"], "u")
    assert item.created_at.startswith("2025-06-01") and item.valid_from.startswith("2025-05-02")
    await svc.aclose()


async def test_a_restated_fact_did_not_stop_holding(tmp_path: Path) -> None:
    svc = MemoryService(formation(embedding="hash", uri=str(tmp_path / "s")), None)
    records = await svc.records()
    first = await remember(records, HashEmbedder(), "u", "User has a dog named Rex", valid_from=5.0)
    again = await remember(records, HashEmbedder(), "u", "User has a dog, named Rex")
    assert again.superseded == [first.row["id"]] and again.row["valid_from"] == 5.0
    assert (await records.get("u", first.row["id"]))["valid_until"] is None
    await svc.aclose()
