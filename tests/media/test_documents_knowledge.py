"""Knowledge ingestion reads documents and images through the media module."""

from __future__ import annotations

from pathlib import Path

import pytest

from muxi_cli.config.schema import AgentConfig
from muxi_cli.errors import MemoryStoreError
from muxi_cli.memory.readers import read_sections
from muxi_cli.memory.service import MemoryService

from . import files


def test_scanned_pdf_sections_are_ocred_per_page(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(files.scanned_pdf([["Boiler pressure 1.5 bar"], ["Reset with red button"]]))
    sections = read_sections(path)
    assert [label for label, _text in sections] == ["page1", "page2"]
    assert "Boiler pressure" in sections[0][1] and "red button" in sections[1][1]


def test_pptx_xlsx_and_images_become_sections(tmp_path: Path) -> None:
    deck = tmp_path / "deck.pptx"
    deck.write_bytes(files.pptx([("Plan", "Hire two", "Notes here"), ("Risks", "Budget", "")]))
    assert read_sections(deck) == [
        ("slide1", "Plan\nHire two\nNotes: Notes here"),
        ("slide2", "Risks\nBudget"),
    ]
    book = tmp_path / "book.xlsx"
    book.write_bytes(files.xlsx({"Prices": [["item", "eur"], ["tea", 3]]}))
    assert read_sections(book) == [("sheet1", "item,eur\ntea,3")]
    photo = tmp_path / "whiteboard.png"
    files.text_image(["Ship on Friday"], (800, 160)).save(photo)
    assert read_sections(photo) == [("", "Ship on Friday")]


def test_bombs_and_lies_are_reported_as_knowledge_errors(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(files.zip_bomb_docx())
    with pytest.raises(MemoryStoreError, match=r"bomb\.docx: .*unpacks"):
        read_sections(bomb)
    liar = tmp_path / "notes.pdf"
    liar.write_bytes(files.png())
    with pytest.raises(MemoryStoreError, match=r"notes\.pdf is a PNG image, not a PDF document"):
        read_sections(liar)


async def test_a_scanned_pdf_is_searchable_knowledge(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "warranty.pdf").write_bytes(files.scanned_pdf([["Warranty lasts two years"]]))
    agent = AgentConfig(name="helper", knowledge=[{"path": "docs", "description": "docs"}])
    from muxi_cli.config.schema import Formation

    svc = MemoryService(
        Formation.model_validate({"memory": {"embedding": "hash"}}), None, base_dir=tmp_path
    )
    try:
        report = await svc.sync_knowledge(agent)
        assert report.added == ["docs/warranty.pdf"] and not report.errors
        recalled = await svc.recall("u", agent, "Warranty lasts two years")
        assert recalled[0].source == "docs/warranty.pdf#page1"
        assert "two years" in recalled[0].text
    finally:
        await svc.aclose()
