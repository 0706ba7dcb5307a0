"""Agent knowledge: readers, chunking, change detection, citations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from muxi_cli.config.schema import AgentConfig
from muxi_cli.memory.embeddings import LocalEmbedder
from muxi_cli.memory.readers import chunk_text, read_sections
from muxi_cli.memory.service import MemoryService

from .conftest import formation
from .docs_factory import write_docx, write_pdf


def _agent(*paths: str) -> AgentConfig:
    return AgentConfig(name="helper", knowledge=[{"path": p, "description": "docs"} for p in paths])


def test_chunking_overlaps_and_covers_everything() -> None:
    words = [f"word{i}" for i in range(800)]
    text = " ".join(words)
    chunks = chunk_text(text, max_chars=500, overlap=100)
    assert all(len(c) <= 500 for c in chunks)
    joined = " ".join(chunks)
    assert all(w in joined for w in words)
    # Consecutive chunks share some words.
    assert set(chunks[0].split()[-5:]) & set(chunks[1].split()[:20])
    assert chunk_text("") == [] and chunk_text("short") == ["short"]


def test_readers(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "guide.pdf", ["Page one about boilers.", "Page two about radiators."]
    )
    assert read_sections(pdf) == [
        ("page1", "Page one about boilers."),
        ("page2", "Page two about radiators."),
    ]
    html = tmp_path / "faq.html"
    html.write_text(
        "<html><script>var x=1;</script><body><h1>FAQ</h1><p>Refunds take 5 days.</p></body></html>"
    )
    ((_label, text),) = read_sections(html)
    assert "Refunds take 5 days." in text and "var x" not in text
    docx = write_docx(tmp_path / "policy.docx", ["Holidays are 25 days.", "Ask HR."])
    assert read_sections(docx) == [("", "Holidays are 25 days.\n\nAsk HR.")]


async def test_ingest_recall_and_citations(tmp_path: Path, local_embedder: LocalEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "boiler.md").write_text(
        "# Boiler\n\nThe boiler pressure should be between 1 and 1.5 bar.\n"
    )
    (docs / "notes.txt").write_text("The office cat is called Miso.\n")
    write_pdf(
        docs / "manual.pdf",
        ["Warranty: two years from purchase.", "Reset: hold the red button for 10 seconds."],
    )
    (docs / ".hidden.md").write_text("secret")
    (docs / "tool.exe").write_bytes(b"MZ\x90\x00")
    svc = MemoryService(formation(), None, base_dir=tmp_path, embedder=local_embedder)
    agent = _agent("docs")
    report = await svc.sync_knowledge(agent)
    assert sorted(report.added) == ["docs/boiler.md", "docs/manual.pdf", "docs/notes.txt"]
    assert report.chunks == 4 and not report.errors

    recalled = await svc.recall("alice", agent, "how do I reset the device?")
    assert recalled[0].kind == "knowledge"
    assert recalled[0].source == "docs/manual.pdf#page2"
    assert "red button" in recalled[0].text
    pressure = await svc.recall("alice", agent, "what boiler pressure is right?")
    assert pressure[0].source == "docs/boiler.md#chunk1"
    # Another agent does not see this agent's knowledge.
    assert [
        r for r in await svc.recall("alice", _agent(), "reset the device") if r.kind == "knowledge"
    ] == []

    # Only changed files are ingested again; removed files are dropped.
    (docs / "notes.txt").write_text("The office cat is called Tofu now.\n")
    (docs / "boiler.md").unlink()
    report = await svc.sync_knowledge(agent)
    assert report.updated == ["docs/notes.txt"]
    assert report.unchanged == ["docs/manual.pdf"]
    assert report.removed == ["docs/boiler.md"]
    chunks = await svc.chunks()
    assert set(await chunks.sources("helper")) == {"docs/manual.pdf", "docs/notes.txt"}
    cat = await svc.recall("alice", agent, "what is the cat called?")
    assert "Tofu" in cat[0].text
    await svc.aclose()


async def test_first_recall_ingests_and_globs(tmp_path: Path, service: MemoryService) -> None:
    (tmp_path / "a.md").write_text("Alpha release ships on Monday.")
    (tmp_path / "b.md").write_text("Beta release ships on Friday.")
    (tmp_path / "c.txt").write_text("not matched by the glob")
    service.base_dir = tmp_path
    agent = _agent("*.md")
    recalled = await service.recall("u", agent, "when does the beta release ship")
    assert recalled and recalled[0].source == "b.md#chunk1"
    assert set(await (await service.chunks()).sources("helper")) == {"a.md", "b.md"}


async def test_missing_and_broken_files_are_reported(
    tmp_path: Path, service: MemoryService
) -> None:
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf at all")
    service.base_dir = tmp_path
    report = await service.sync_knowledge(_agent("nowhere/*.md", "missing.md", "bad.pdf"))
    assert "missing.md" in report.errors
    assert "bad.pdf" in report.errors
    assert report.added == []


@pytest.mark.parametrize("force", [False, True])
async def test_force_rebuild(tmp_path: Path, service: MemoryService, force: bool) -> None:
    (tmp_path / "a.md").write_text("Alpha")
    service.base_dir = tmp_path
    await service.sync_knowledge(_agent("a.md"))
    report = await service.sync_knowledge(_agent("a.md"), force=force)
    assert (report.updated if force else report.unchanged) == ["a.md"]


async def test_files_are_read_off_the_event_loop(tmp_path: Path, monkeypatch: Any) -> None:
    import asyncio
    import threading

    from muxi_cli.memory import knowledge

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Alpha is the first letter.")
    loop = asyncio.get_running_loop()
    reading: asyncio.Future[None] = loop.create_future()
    loop_ran = threading.Event()
    real = knowledge.make_chunks

    def slow_reader(path: Path) -> list[tuple[str, str]]:
        # A reader that needs the event loop to run while it reads.
        loop.call_soon_threadsafe(reading.set_result, None)
        assert loop_ran.wait(5), "the event loop was blocked while a file was read"
        return real(path)

    monkeypatch.setattr(knowledge, "make_chunks", slow_reader)

    async def tick() -> None:
        await reading
        loop_ran.set()

    svc = MemoryService(formation(embedding="hash"), None, base_dir=tmp_path)
    try:
        ticker = loop.create_task(tick())
        report = await svc.sync_knowledge(_agent("docs"))
        await ticker
    finally:
        await svc.aclose()
    assert report.added == ["docs/a.md"] and not report.errors


async def test_an_unreadable_file_is_reported_not_raised(tmp_path: Path, monkeypatch: Any) -> None:
    from muxi_cli.memory import knowledge

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("Readable.")
    (docs / "locked.md").write_text("Not readable.")
    real = knowledge.file_hash

    def file_hash(path: Path) -> str:
        if path.name == "locked.md":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(knowledge, "file_hash", file_hash)
    svc = MemoryService(formation(embedding="hash"), None, base_dir=tmp_path)
    try:
        report = await svc.sync_knowledge(_agent("docs"))
    finally:
        await svc.aclose()
    assert report.added == ["docs/ok.md"]
    assert "Permission denied" in report.errors["docs/locked.md"]


async def test_knowledge_added_from_the_cli_is_recalled(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    """`muxi knowledge add` entries count even when muxi.yaml lists no knowledge."""
    docs = tmp_path / "policies"
    docs.mkdir()
    (docs / "returns.md").write_text(
        "# Returns\n\nCustomers may return any item within 30 days of delivery.\n"
    )
    svc = MemoryService(formation(), None, base_dir=tmp_path, embedder=local_embedder)
    agent = AgentConfig(name="helper")
    await svc.add_knowledge(agent, docs)
    fresh = MemoryService(formation(), None, base_dir=tmp_path, embedder=local_embedder)
    try:
        recalled = await fresh.recall("alice", agent, "how many days do I have to return an item")
    finally:
        await fresh.aclose()
        await svc.aclose()
    cited = [r for r in recalled if r.kind == "knowledge" and r.source and "returns.md" in r.source]
    assert cited and "30 days" in cited[0].text
