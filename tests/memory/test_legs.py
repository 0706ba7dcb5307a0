"""The search legs (muxi_cli/stores/lance_legs.py): what their prefilters leave out."""

from __future__ import annotations

from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.stores.lance_legs import LEG_COLUMNS, memory_legs
from muxi_cli.stores.lance_records import MemoryRecords
from muxi_cli.stores.lance_schema import MEMORIES
from muxi_cli.stores.lance_store import LanceStore


async def test_rows_of_another_model_never_reach_the_ranking(store: LanceStore) -> None:
    """The embedding model is checked on the candidates, not in the prefilter: a leg
    that finds a row of another model runs again with the model in its prefilter,
    so vectors of two models are never compared (the same rows as before)."""
    records = MemoryRecords(store)
    embedder = HashEmbedder()
    texts = ["User's dentist appointment is on January 12, 2027.", "User likes green tea."]
    vectors = embedder.embed_sync(texts)
    await records.add(
        [
            {
                "user_id": "u",
                "kind": "fact",
                "text": t,
                "content_hash": t,
                "vector": v.tolist(),
                "dates": d,
            }
            for t, v, d in zip(texts, vectors, ["2027-01-12", ""], strict=True)
        ]
    )
    query = embedder.embed_sync(["dentist in January"])[0]
    # A row another model made (a reindex that stopped before recording its model),
    # the nearest of all to the query and dated in the span: written past the store.
    foreign = {
        "id": "foreign", "user_id": "u", "kind": "fact", "text": "User sees a dentist",
        "content_hash": "f", "vector": query.tolist(), "qvector": query.tolist(),
        "embedding_model": "other/model", "dates": "2027-01-12", "created_at": 1.7e9,
    }  # fmt: skip
    await store.table(MEMORIES).add([foreign])

    legs = await memory_legs(
        records, "u", query, "dentist", candidates=5, date_patterns=["%2027-01%"]
    )
    ours = {r["id"] for r in await records.listing("u")} - {"foreign"}
    assert {r["id"] for r in legs["questions"]} == ours
    assert [r["text"] for r in legs["dated"]] == [texts[0]]
    # The text leg's prefilter holds indexed columns only; the model was never in it.
    assert "foreign" in {r["id"] for r in legs["text"]}
    assert all(set(r) >= {*LEG_COLUMNS, "vector", "qvector"} for r in legs["questions"])
