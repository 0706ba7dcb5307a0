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
from muxi_cli.memory.service import MemoryService

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
