"""Export to JSONL and import back: lossless, re-embedding across models."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from muxi_cli.errors import UsageError
from muxi_cli.memory import transfer
from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.memory.extract import remember
from muxi_cli.memory.service import MemoryService
from muxi_cli.stores.lance_schema import FACT_COLUMNS

from .conftest import formation


class OtherHash(HashEmbedder):
    name = "hash/other"
    dims = 256


async def _populate(svc: MemoryService) -> None:
    await svc.add("User likes jazz", "alice", importance=0.7, agent="dj")
    await svc.add("User likes jazz music a lot", "alice")
    old = await svc.add("User lives in Oslo", "bob")
    await svc.add("User lives in Oslo, Norway", "bob")
    records = await svc.records()
    new = (await svc.list("bob"))[0]
    await records.update("bob", old.id, superseded_by=new.id)
    await svc.add("Shared: the office opens at 9", "x", kind="knowledge", shared=True)
    await svc.add("Unicode 🙂 'quotes' \\ back", "o'brien")


async def test_round_trip_is_lossless(tmp_path: Path) -> None:
    src = MemoryService(formation(embedding="hash", uri=str(tmp_path / "a")), None)
    await _populate(src)
    buffer = io.StringIO()
    count = await transfer.export_memories(await src.records(), buffer)
    assert count == 6
    lines = buffer.getvalue().splitlines()
    header = json.loads(lines[0])
    assert header["embedding_model"] == "hash/384" and header["count"] == 6
    assert all(json.loads(line)["embedding_model"] == "hash/384" for line in lines[1:])

    dst = MemoryService(formation(embedding="hash", uri=str(tmp_path / "b")), None)
    result = await transfer.import_rows(
        await dst.store(), dst.embedder, transfer.read_lines(io.StringIO(buffer.getvalue()))
    )
    assert result == {"imported": 6, "reembedded": 0}
    before = {r["id"]: r for r in await (await src.records()).scan_all(vector=True)}
    after = {r["id"]: r for r in await (await dst.records()).scan_all(vector=True)}
    assert before.keys() == after.keys()
    for key, row in before.items():
        other = after[key]
        for column in transfer.FIELDS:
            if isinstance(row[column], float):
                assert other[column] == pytest.approx(row[column]), column
            else:
                assert other[column] == row[column], column
        assert np.allclose(row["vector"], other["vector"])

    # Importing again updates in place (no duplicates).
    await transfer.import_rows(
        await dst.store(), dst.embedder, transfer.read_lines(io.StringIO(buffer.getvalue()))
    )
    assert len(await (await dst.records()).scan_all()) == 6
    await src.aclose()
    await dst.aclose()


async def test_import_into_another_model_reembeds(tmp_path: Path) -> None:
    src = MemoryService(formation(embedding="hash", uri=str(tmp_path / "a")), None)
    await _populate(src)
    buffer = io.StringIO()
    await transfer.export_memories(await src.records(), buffer, user_id="alice")
    dst = MemoryService(formation(uri=str(tmp_path / "b")), None, embedder=OtherHash())
    result = await transfer.import_rows(
        await dst.store(), dst.embedder, transfer.read_lines(io.StringIO(buffer.getvalue()))
    )
    assert result == {"imported": 2, "reembedded": 2}
    rows = await (await dst.records()).scan_all(vector=True)
    assert {r["embedding_model"] for r in rows} == {"hash/other"}
    assert {len(r["vector"]) for r in rows} == {256}
    assert (await dst.search("jazz", "alice"))[0].text.startswith("User likes jazz")
    await src.aclose()
    await dst.aclose()


def test_bad_import_lines() -> None:
    with pytest.raises(UsageError):
        list(transfer.read_lines(io.StringIO("not json\n")))
    with pytest.raises(UsageError):
        list(transfer.read_lines(io.StringIO('{"muxi_memory_export": 99}\n')))
    assert list(transfer.read_lines(io.StringIO('\n{"id": "a"}\n'))) == [{"id": "a"}]


async def test_subject_dates_and_questions_travel(tmp_path: Path) -> None:
    src = MemoryService(formation(embedding="hash", uri=str(tmp_path / "a")), None)
    asked = ["Where does the user live?", "Which city is home?"]
    stored = await remember(
        await src.records(), src.embedder, "alice", "User lives in Lisbon since 2026",
        subject="user", valid_from=1.77e9, questions=asked,
    )  # fmt: skip
    await src.add("User's wife Maya was born on June 12", "alice")
    buffer = io.StringIO()
    await transfer.export_memories(await src.records(), buffer)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()[1:]]
    by_text = {line["text"]: line for line in lines}
    maya = by_text["User's wife Maya was born on June 12"]
    assert maya["qvector"] is None and maya["subject"] == "spouse"  # no questions: no copy
    assert maya["dates"] == "--06-12"  # every year
    assert by_text["User lives in Lisbon since 2026"]["questions"] == "\n".join(asked)

    # Another model re-embeds the questions too; an export from before schema 2
    # (no subject, dates or questions) gets them from the text.
    old_line = {k: v for k, v in maya.items() if k not in FACT_COLUMNS and k != "qvector"}
    old_line["id"] = "old-maya"
    dst = MemoryService(formation(uri=str(tmp_path / "b")), None, embedder=OtherHash())
    items = [*lines, old_line]
    result = await transfer.import_rows(await dst.store(), dst.embedder, items)
    assert result == {"imported": 3, "reembedded": 3}
    records = await dst.records()
    lisbon = await records.get("alice", stored.row["id"], vector=True)
    assert lisbon["valid_from"] == pytest.approx(1.77e9) and lisbon["subject"] == "user"
    expected = (await OtherHash().embed(["\n".join(asked)]))[0]
    assert np.allclose(lisbon["qvector"], expected)
    old = await records.get("alice", "old-maya", vector=True)
    assert old["subject"] == "spouse" and old["questions"] is None and old["dates"] == "--06-12"
    assert np.allclose(old["qvector"], old["vector"])

    # reindex: the questions' vector from the questions, the others' from the text.
    await transfer.reindex(await dst.store(), HashEmbedder())
    lisbon = await records.get("alice", stored.row["id"], vector=True)
    assert np.allclose(lisbon["qvector"], HashEmbedder().embed_sync(["\n".join(asked)])[0])
    old = await records.get("alice", "old-maya", vector=True)
    assert np.allclose(old["qvector"], old["vector"])
    await src.aclose()
    await dst.aclose()
