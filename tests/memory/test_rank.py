"""The ranking of memory search candidates (muxi_cli.memory.rank), pure and through recall."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from muxi_cli.config.schema import AgentConfig
from muxi_cli.memory import rank
from muxi_cli.memory.dates import Span
from muxi_cli.memory.embeddings import LocalEmbedder
from muxi_cli.memory.extract import remember
from muxi_cli.memory.rank import RankOptions
from muxi_cli.memory.recall import PREVIOUSLY
from muxi_cli.memory.service import MemoryService

from .conftest import formation

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC).timestamp()
DAY = 86400.0
QUERY = np.eye(4, dtype=np.float32)[0]


def row(key: str, similarity: float, text: str = "User likes tea.", **extra: Any) -> dict:
    """A candidate whose vector has cosine ``similarity`` to :data:`QUERY`."""
    rest = (1.0 - similarity**2) ** 0.5
    vector = np.array([similarity, rest, 0.0, 0.0], dtype=np.float32)
    values = {"id": key, "user_id": "u", "kind": "fact", "text": text, "vector": vector,
              "created_at": NOW - 100 * DAY, "importance": 0.5, "superseded_by": None}  # fmt: skip
    values.update(extra)
    return values


def fresh(legs: dict) -> dict:
    """A copy of ``legs`` (the ranking takes the rows over)."""
    return {leg: [dict(r) for r in rows] for leg, rows in legs.items()}


def order(legs: dict, text: str = "tea", options: RankOptions | None = None) -> list[str]:
    options = options or RankOptions()
    query = rank.prepare(text, QUERY, NOW, options)
    return [r["id"] for r in rank.rank(fresh(legs), query, options)]


def test_keyword_hits_count_only_above_the_gate() -> None:
    close = row("close", 0.50)
    keyword = row("keyword", 0.47)
    unrelated = row("unrelated", rank.GATE - 0.1)
    text = [dict(unrelated, _score=9.0), dict(keyword, _score=8.0)]
    legs = {"vector": [close, keyword], "text": text}
    # The related keyword hit is promoted; the unrelated one (best BM25) is not.
    assert order(legs) == ["keyword", "close", "unrelated"]
    assert order(legs, options=RankOptions(fusion="vector")) == ["close", "keyword", "unrelated"]


def test_rrf_mode_is_the_previous_fusion() -> None:
    def legs() -> dict:
        text = [dict(row("b", 0.55), _score=3.0)]
        return {"vector": [row("a", 0.6), row("b", 0.55)], "text": text}

    # b is first in one leg and second in the other: RRF puts it first.
    assert order(legs(), options=RankOptions(fusion="rrf"))[0] == "b"
    found = rank.rank(legs(), rank.prepare("tea", QUERY, NOW, RankOptions()), RankOptions())
    assert {r["id"]: r["_fts"] for r in found} == {"a": None, "b": 3.0}


def test_noise_is_dropped_unless_a_keyword_or_a_date_holds_it() -> None:
    legs = {
        "vector": [row("far", 0.05), row("near", 0.5)],
        "text": [dict(row("name", 0.1), _score=1.0)],
    }
    assert order(legs, options=RankOptions(fusion="vector")) == ["near", "name"]


def test_whose_fact_it_is() -> None:
    mine = row("mine", 0.50, "User's wedding anniversary is on June 12.", subject="user")
    theirs = row("theirs", 0.52, "User's sister Ana's wedding anniversary is on May 2.")
    legs = {"vector": [theirs, mine]}
    assert order(legs, "when is my anniversary") == ["mine", "theirs"]
    assert order(legs, "when is my sister's anniversary") == ["theirs", "mine"]
    off = RankOptions(subjects=False)
    assert order(legs, "when is my anniversary", off) == ["theirs", "mine"]


def test_dates_in_the_span_rank_up_and_patterns_find_them() -> None:
    stored = row("stored", 0.30, "User has a dentist appointment.", dates="2027-01-12")
    inferred = row("inferred", 0.30, "User plans a ski trip to Austria in January 2027.")
    other = row("other", 0.45, "User plans a trip.", dates="2027-03")
    legs = {"vector": [other, stored, inferred]}
    assert order(legs, "anything next month")[2] == "other"
    assert order(legs, "anything next month", RankOptions(dates=False))[0] == "other"
    patterns = rank.date_patterns(Span(date(2027, 1, 1), date(2027, 1, 31)))
    assert set(patterns) == {"%--01%", "%2027-01%"}
    # A year is asked about for what happens in it, not for every birthday.
    year = rank.date_patterns(Span(date(2027, 1, 1), date(2027, 12, 31)))
    assert "%2027%" in year and "%--12%" not in year


def test_a_coarse_date_is_no_answer_to_a_precise_question() -> None:
    month = row("month", 0.30, "User repaints a room in December 2026.", dates="2026-12")
    day = row("day", 0.30, "User has a meeting on December 11, 2026.", dates="2026-12-11")
    birthday = row("birthday", 0.30, "User's sister's birthday is May 3.", dates="--05-03")
    legs = {"vector": [month, day, birthday]}
    friday = Span(date(2026, 12, 11), date(2026, 12, 11))
    december = Span(date(2026, 12, 1), date(2026, 12, 31))
    year = Span(date(2027, 1, 1), date(2027, 12, 31))
    assert [rank._dated(r, friday) for r in (month, day)] == [False, True]
    assert [rank._dated(r, december) for r in (month, day)] == [True, True]
    assert not rank._dated(birthday, year)
    assert rank._dated(birthday, Span(date(2027, 5, 1), date(2027, 5, 31)))
    assert order(legs, "anything on Friday", RankOptions(subjects=False))[0] == "day"


def test_superseded_rows_go_right_below_their_successor() -> None:
    old = row("old", 0.8, "User lives in Porto.", superseded_by="new")
    new = row("new", 0.5, "User moved to Lisbon.")
    middle = row("middle", 0.6, "User likes the sea.")
    gone = row("gone", 0.9, "User works at Acme.", superseded_by="absent")
    legs = {"vector": [gone, old, middle, new]}
    ranked = order(legs, "where does the user live")
    assert ranked.index("middle") < ranked.index("new") < ranked.index("old")
    assert ranked.index("new") + 1 == ranked.index("old")
    found = rank.rank(fresh(legs), rank.prepare("x", QUERY, NOW, RankOptions()), RankOptions())
    scores = {r["id"]: r["_score"] for r in found}
    assert scores["gone"] < 0.9 - rank.STALE_PENALTY + 0.05  # demoted: its successor is absent
    assert order(legs, "x", RankOptions(current=False))[0] == "gone"


def test_the_newer_of_two_near_identical_facts_ranks_first() -> None:
    older = row("older", 0.70, "User's phone is a Pixel 6.", created_at=NOW - 400 * DAY)
    newer = row("newer", 0.69, "User's phone is a Pixel 8.", created_at=NOW - 20 * DAY)
    newer["vector"] = older["vector"] * 0.999 + np.array([0, 0, 0.04, 0], dtype=np.float32)
    legs = {"vector": [older, newer]}
    assert order(legs, "what phone", RankOptions(decay=False)) == ["newer", "older"]
    assert order(legs, "what phone", RankOptions(decay=False, current=False)) == ["older", "newer"]


async def test_recall_shows_a_replaced_fact_only_below_its_successor(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    svc = MemoryService(formation(uri=str(tmp_path / "m")), None, embedder=local_embedder)
    records = await svc.records()
    old = await remember(records, local_embedder, "alice", "User lives in Porto, Portugal.")
    new = await remember(
        records, local_embedder, "alice", "User moved to Lisbon.", replaces=[old.row["id"]]
    )
    agent = AgentConfig(name="assistant")
    recalled = await svc.recall("alice", agent, "which city does the user live in")
    ids = [r.id for r in recalled]
    assert ids[:2] == [new.row["id"], old.row["id"]]
    assert recalled[1].text == PREVIOUSLY + "User lives in Porto, Portugal."
    # The other user sees nothing of it.
    assert await svc.recall("bob", agent, "which city does the user live in") == []
    await svc.aclose()


async def test_every_leg_keeps_the_user_scope(tmp_path: Path) -> None:
    """The text, question and date legs see only the user's rows, whatever the id."""
    svc = MemoryService(
        formation(embedding="hash", uri=str(tmp_path / "m")), None, clock=lambda: NOW
    )
    await svc.add("User's dentist appointment is on January 12, 2027.", "alice")
    mine = await svc.add("User flies to Oslo on January 20, 2027.", "bob")
    query = "dentist appointment next month"
    assert [i.id for i in await svc.search(query, "bob")] == [mine.id]
    assert await svc.search(query, "alice' OR '1'='1") == []
    assert await svc.search(query, "carol") == []
    await svc.aclose()


def _pair(old_text: str, new_text: str, mutual: float) -> dict:
    """An older fact scoring 0.6 and a newer one scoring 0.5, ``mutual`` alike, unlinked."""
    older = row("older", 0.6, old_text, created_at=NOW - 400 * DAY)
    newer = row("newer", 0.5, new_text, created_at=NOW - 100 * DAY)
    # Orthogonal parts chosen so that the two vectors' cosine is ``mutual``.
    rest_old, rest_new = (1 - 0.36) ** 0.5, (1 - 0.25) ** 0.5
    share = (mutual - 0.3) / (rest_old * rest_new)
    newer["vector"] = np.array(
        [0.5, rest_new * share, rest_new * (1 - share**2) ** 0.5, 0.0], dtype=np.float32
    )
    middle = row("middle", 0.55, "User's home desk has a standing frame.")
    middle["vector"] = np.array([0.55, 0.0, 0.0, (1 - 0.55**2) ** 0.5], dtype=np.float32)
    return {"vector": [older, middle, newer]}


def test_a_newer_update_ranks_above_the_old_fact_with_no_link() -> None:
    legs = _pair(
        "User uses a Google Pixel 6.", "User switched to an iPhone 15 Pro in July 2026.", 0.45
    )
    # Same slot (the phone), newer: right above the older one, which stays.
    assert order(legs, "what phone", RankOptions(decay=False)) == ["newer", "older", "middle"]
    assert order(legs, "what phone", RankOptions(decay=False, current=False)) == [
        "older", "middle", "newer"
    ]  # fmt: skip


def test_two_unrelated_likes_are_not_reordered() -> None:
    legs = _pair("User likes sushi.", "User likes ramen.", 0.56)
    assert order(legs, "food", RankOptions(decay=False)) == ["older", "middle", "newer"]
    # Another person's fact is no update of the user's, whatever the cue.
    legs = _pair("User lives in Berlin.", "User's sister Kasia moved to Copenhagen.", 0.45)
    assert order(legs, "where", RankOptions(decay=False, subjects=False))[0] == "older"


def test_change_rules_on_pairs() -> None:
    """The cues and slots :mod:`muxi_cli.memory.changes` reads (no vectors)."""
    from muxi_cli.memory import changes

    assert changes.shared_slots("User banks with N26.", "User's main account moved to Caixa.")
    assert not changes.shared_slots("User moved to Lisbon.", "User's main account moved to Caixa.")
    assert changes.compatible("user", "User spends Christmas with the parents.", "parent", "x")
    assert not changes.compatible("user", "User lives in Berlin.", "sibling", "x")
    assert changes.clear_update(
        "User is vegetarian.", "user", "User switched to a vegan diet.", "user", 0.6
    )
    assert not changes.clear_update(
        "User likes sushi.", "user", "User now likes ramen.", "user", 0.6
    )
