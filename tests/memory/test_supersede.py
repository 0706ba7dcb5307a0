"""Write-time supersession: similarity finds related facts, a judge decides.

The band tests use the real local MiniLM (the band's bounds were measured with it)
and scripted judges; the production judge runs against the fake LLM server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from muxi_cli.memory import supersede
from muxi_cli.memory.embeddings import LocalEmbedder
from muxi_cli.memory.extract import JUDGE_SIMILARITY, Stored, remember
from muxi_cli.memory.scoring import SUPERSEDE_SIMILARITY
from muxi_cli.stores.lance_records import MemoryRecords, Row
from muxi_cli.stores.lance_store import LanceStore
from tests.fakellm import JSONReply, Text

from .conftest import fake_formation, registry_for


class Scripted:
    """A judge that replaces the candidates whose text contains one of ``words``."""

    def __init__(self, *words: str, answer: Any = None) -> None:
        self.words = words
        self.answer = answer
        self.calls: list[tuple[str, list[str]]] = []

    async def __call__(self, text: str, candidates: list[Row]) -> list[str]:
        self.calls.append((text, [c["text"] for c in candidates]))
        if self.answer is not None:
            if isinstance(self.answer, BaseException):
                raise self.answer
            return self.answer  # type: ignore[no-any-return]
        return [c["id"] for c in candidates if any(w in c["text"] for w in self.words)]


@pytest.fixture
async def records(tmp_path: Path, local_embedder: LocalEmbedder) -> Any:
    store = await LanceStore(
        str(tmp_path / "s"), embedding_model=local_embedder.name, dims=local_embedder.dims
    ).open()
    yield MemoryRecords(store)
    await store.close()


async def _put(records: MemoryRecords, embedder: LocalEmbedder, text: str, **kw: Any) -> Stored:
    return await remember(records, embedder, "u", text, **kw)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("User lives in Berlin.", "User moved to Lisbon in March 2026."),
        ("User is vegetarian.", "User went back to eating meat in 2025."),
        ("User works at Acme as a designer.", "User started a new job at Globex in 2026."),
    ],
)
async def test_updates_in_the_band_reach_the_judge(
    records: MemoryRecords, local_embedder: LocalEmbedder, old: str, new: str
) -> None:
    first = await _put(records, local_embedder, old)
    judge = Scripted(old.split()[-1].rstrip("."))
    second = await _put(records, local_embedder, new, judge=judge)
    assert judge.calls == [(new, [old])]
    assert second.action == "superseded" and second.judged == [first.row["id"]]
    previous = await records.get("u", first.row["id"])
    assert previous["superseded_by"] == second.row["id"]
    assert previous["valid_until"] == pytest.approx(second.row["created_at"])


async def test_facts_that_both_hold_stay(
    records: MemoryRecords, local_embedder: LocalEmbedder
) -> None:
    sushi = await _put(records, local_embedder, "User likes sushi.")
    judge = Scripted()  # a judge that sees both can hold: nothing replaced
    ramen = await _put(records, local_embedder, "User likes ramen.", judge=judge)
    assert judge.calls == [("User likes ramen.", ["User likes sushi."])]
    assert ramen.action == "added"
    assert (await records.get("u", sushi.row["id"]))["superseded_by"] is None


async def test_the_judge_is_asked_only_when_no_link_holds(
    records: MemoryRecords, local_embedder: LocalEmbedder
) -> None:
    berlin = await _put(records, local_embedder, "User lives in Berlin.")
    sushi = await _put(records, local_embedder, "User likes sushi.")
    judge = Scripted("sushi")
    ramen = await _put(
        records, local_embedder, "User likes ramen.", replaces=[sushi.row["id"]], judge=judge
    )
    assert judge.calls == [] and ramen.superseded == [sushi.row["id"]]
    judge = Scripted("Berlin")
    moved = await _put(
        records, local_embedder, "User moved to Lisbon.", replaces=["made-up-id"], judge=judge
    )
    assert len(judge.calls) == 1 and moved.judged == [berlin.row["id"]]


async def test_no_candidate_no_call_and_bad_judges_replace_nothing(
    records: MemoryRecords, local_embedder: LocalEmbedder
) -> None:
    judge = Scripted(answer=["nonsense-id"])
    await _put(records, local_embedder, "User lives in Berlin.", judge=judge)
    assert judge.calls == []  # an empty store: no candidate, no model call
    far = await _put(records, local_embedder, "User is allergic to peanuts.", judge=judge)
    assert judge.calls == [] and far.action == "added"  # below the band
    # The sister's city is another subject: never a candidate for the user's own.
    await _put(records, local_embedder, "User's sister Ana lives in Rome.", judge=judge)
    assert all("sister" not in c for _t, cands in judge.calls for c in cands)
    for bad in (["nonsense-id"], "garbage", RuntimeError("model down")):
        judge = Scripted(answer=bad)
        moved = await _put(
            records, local_embedder, f"User moved to Lisbon ({bad!s:.5}).", judge=judge
        )
        assert judge.calls and moved.action == "added", bad
    assert len(await records.listing("u")) == 6


async def test_the_band_is_below_the_duplicate_threshold() -> None:
    assert 0.3 < JUDGE_SIMILARITY < SUPERSEDE_SIMILARITY


async def test_the_model_judge_asks_once_and_reads_numbers(fake_llm: Any, tmp_path: Path) -> None:
    form = fake_formation(fake_llm)
    judge = supersede.model_judge(registry_for(form), "openai/judge")
    olds: list[Row] = [
        {"id": "a1", "text": "User lives in Berlin."},
        {"id": "b2", "text": "User's flat has a balcony."},
    ]
    fake_llm.script(JSONReply({"replaces": [1]}))
    assert await judge("User moved to Lisbon.", olds) == ["a1"]
    request = fake_llm.requests[-1]
    assert request["model"] == "judge" and request["max_tokens"] == supersede.MAX_TOKENS
    prompt = " ".join(str(m.get("content")) for m in request["messages"])
    assert "NEW: User moved to Lisbon." in prompt and "2. User's flat has a balcony." in prompt
    for answer in (Text("Yes, the first one."), JSONReply({"replaces": [3, 0, True]})):
        fake_llm.script(answer)
        assert await judge("User moved to Lisbon.", olds) == []
    fake_llm.script(Text('```json\n{"replaces": ["2", 2]}\n```'))
    assert await judge("x", olds) == ["b2"]
    assert await judge("x", []) == [] and len(fake_llm.requests) == 4


def test_parse_verdict_is_strict() -> None:
    olds: list[Row] = [{"id": "a"}, {"id": "b"}]
    assert supersede.parse_verdict('{"replaces": [2, 1, 2]}', olds) == ["b", "a"]
    assert supersede.parse_verdict('{"replaces": "1"}', olds) == []
    assert supersede.parse_verdict("[1]", olds) == []
    assert supersede.parse_verdict('{"replaces": [1.0, null, -1]}', olds) == []


async def test_questions_are_embedded_with_the_fact_in_one_call(
    records: MemoryRecords, local_embedder: LocalEmbedder
) -> None:
    calls: list[list[str]] = []

    class Counting:
        name, dims = local_embedder.name, local_embedder.dims

        async def embed(self, texts: list[str]) -> np.ndarray:
            calls.append(texts)
            return await local_embedder.embed(texts)

    asked = ["Where does the user live?", "Which city is home?"]
    stored = await remember(
        records,
        Counting(),
        "u",
        "User lives in Lisbon.",
        questions=[*asked, "", 7],  # type: ignore[list-item]
    )
    assert calls == [["User lives in Lisbon.", "\n".join(asked)]]
    row = await records.get("u", stored.row["id"], vector=True)
    assert row["questions"] == "\n".join(asked)
    assert not np.allclose(row["qvector"], row["vector"])
    plain = await remember(records, Counting(), "u", "User has a cat.")
    again = await records.get("u", plain.row["id"], vector=True)
    assert again["questions"] is None and np.allclose(again["qvector"], again["vector"])
    assert len(calls) == 2


async def test_without_a_model_only_a_clear_change_links(
    records: MemoryRecords, local_embedder: LocalEmbedder
) -> None:
    """No judge (``muxi memory add``): same slot, a change cue, similar."""
    pixel = await _put(records, local_embedder, "User uses a Google Pixel 6.")
    iphone = await _put(records, local_embedder, "User switched to an iPhone 15 Pro in July 2026.")
    assert iphone.action == "superseded" and iphone.superseded == [pixel.row["id"]]
    sushi = await _put(records, local_embedder, "User likes sushi.")
    ramen = await _put(records, local_embedder, "User now likes ramen too.")
    assert ramen.action == "added"  # a cue but no slot: both hold
    sister = await _put(records, local_embedder, "User's sister Kasia moved to Copenhagen.")
    assert sister.action == "added"  # another person's move
    assert (await records.get("u", sushi.row["id"]))["superseded_by"] is None


async def test_the_judge_sees_the_users_sentence_about_the_manager(
    records: MemoryRecords, local_embedder: LocalEmbedder
) -> None:
    """Other subjects, below the band's similarity, but one slot: the judge decides."""
    duarte = await _put(records, local_embedder, "User's manager at Marlin Pay is Duarte Silva.")
    judge = Scripted("Duarte")
    new = "User reports to Rita Carvalho since October 2026 after a team reorganisation."
    rita = await _put(records, local_embedder, new, judge=judge)
    assert judge.calls == [(new, [duarte.row["text"]])]
    assert rita.judged == [duarte.row["id"]]
