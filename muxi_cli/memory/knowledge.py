"""Agent knowledge: ingest files into chunks, re-ingest only what changed.

``knowledge: [{path, description}]`` on an agent names files, directories or
globs relative to the formation's directory. Each file is hashed; a file whose
hash matches what is stored is skipped, a changed file's chunks are replaced,
and chunks of files no longer listed are dropped. Chunks cite their source
file and position (``notes.md#chunk3``, ``guide.pdf#page4``, ``deck.pptx#slide2``).
Documents and images are read by ``media.ingest`` (see ``readers``): scanned
pages and images are OCRed, so they are searchable too.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from muxi_cli.config.schema import AgentConfig, KnowledgeEntry
from muxi_cli.errors import MemoryStoreError
from muxi_cli.memory.embeddings import Embedder
from muxi_cli.memory.readers import chunk_text, read_sections, supported
from muxi_cli.memory.scoring import content_hash
from muxi_cli.stores.lance_records import ChunkRecords, Row
from muxi_cli.stores.lance_store import LanceStore

log = logging.getLogger(__name__)

#: ``progress(done, total, source)`` after each file.
Progress = Callable[[int, int, str], None]


@dataclass(slots=True)
class IngestReport:
    agent: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    chunks: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "agent": self.agent,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "errors": self.errors,
            "chunks": self.chunks,
        }


def _source_name(path: Path, base_dir: Path) -> str:
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def resolve_entry(entry: KnowledgeEntry, base_dir: Path) -> list[Path]:
    """The supported files an entry names (a file, a directory, or a glob)."""
    raw = Path(entry.path).expanduser()
    path = raw if raw.is_absolute() else base_dir / raw
    if any(ch in entry.path for ch in "*?["):
        found = [Path(p) for p in glob.glob(str(path), recursive=True)]
        return sorted(p for p in found if p.is_file() and supported(p))
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*") if p.is_file() and supported(p) and not _hidden(p, path)
        )
    if path.is_file():
        return [path]
    raise MemoryStoreError(
        f"knowledge path {entry.path!r} does not exist (looked in {base_dir})",
        "fix the path under the agent's knowledge: in muxi.yaml (relative to the formation file)",
    )


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def resolve_files(agent: AgentConfig, base_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """``({source: path}, {entry path: error})`` for an agent's knowledge entries."""
    files: dict[str, Path] = {}
    errors: dict[str, str] = {}
    for entry in agent.knowledge:
        try:
            for path in resolve_entry(entry, base_dir):
                files.setdefault(_source_name(path, base_dir), path)
        except MemoryStoreError as exc:
            errors[entry.path] = exc.message
    return files, errors


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_chunks(path: Path) -> list[tuple[str, str]]:
    """``[(position, text)]`` for one file."""
    out: list[tuple[str, str]] = []
    counter = 0
    for label, text in read_sections(path):
        pieces = chunk_text(text)
        for index, piece in enumerate(pieces, start=1):
            counter += 1
            if label:
                position = label if len(pieces) == 1 else f"{label}.{index}"
            else:
                position = f"chunk{counter}"
            out.append((position, piece))
    return out


def _read_if_changed(
    path: Path, known_hash: str | None
) -> tuple[str, list[tuple[str, str]] | None]:
    """``(file hash, chunks)``; chunks are ``None`` when the hash is ``known_hash``."""
    try:
        digest = file_hash(path)
        if digest == known_hash:
            return digest, None
        return digest, make_chunks(path)
    except OSError as exc:
        raise MemoryStoreError(
            f"cannot read knowledge file {path}: {exc.strerror or exc}",
            "check the file's permissions, or remove it from the agent's knowledge",
        ) from exc


async def sync_agent(
    chunks: ChunkRecords,
    embedder: Embedder,
    agent: AgentConfig,
    base_dir: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring ``agent``'s chunks in line with its knowledge files.

    Files are hashed and parsed in a worker thread: a large PDF never stalls
    the event loop (the chat app, or every other client of ``muxi serve``).
    """
    report = IngestReport(agent.name)
    files, report.errors = resolve_files(agent, base_dir)
    stored = await chunks.sources(agent.name)
    total = len(files)
    for done, (source, path) in enumerate(sorted(files.items()), start=1):
        try:
            known = None if force else stored.get(source)
            digest, pieces = await asyncio.to_thread(_read_if_changed, path, known)
            if pieces is None:
                report.unchanged.append(source)
            else:
                vectors = await embedder.embed([text for _pos, text in pieces])
                rows: list[Row] = [
                    {
                        "text": text,
                        "content_hash": content_hash(text),
                        "vector": vectors[i].tolist(),
                        "position": position,
                        "file_hash": digest,
                    }
                    for i, (position, text) in enumerate(pieces)
                ]
                await chunks.replace_source(agent.name, source, rows)
                report.chunks += len(rows)
                (report.updated if source in stored else report.added).append(source)
        except MemoryStoreError as exc:
            report.errors[source] = exc.message
            log.warning("knowledge: %s", exc.message)
        if progress is not None:
            progress(done, total, source)
    for source in sorted(set(stored) - set(files)):
        await chunks.delete_source(agent.name, source)
        report.removed.append(source)
    return report


def extras_key(agent: str) -> str:
    return f"knowledge_extra:{agent}"


async def extra_entries(store: LanceStore, agent: str) -> list[KnowledgeEntry]:
    """Entries added with ``muxi knowledge add`` (kept in the store's meta table)."""
    raw = (await store.meta()).get(extras_key(agent))
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        return []
    return [KnowledgeEntry.model_validate(item) for item in items if isinstance(item, dict)]


async def add_extra_entry(store: LanceStore, agent: str, path: Path, description: str) -> None:
    entries = [e for e in await extra_entries(store, agent) if e.path != str(path)]
    entries.append(KnowledgeEntry(path=str(path), description=description))
    await store.set_meta(**{extras_key(agent): json.dumps([e.model_dump() for e in entries])})


def with_extras(agent: AgentConfig, extras: list[KnowledgeEntry]) -> AgentConfig:
    if not extras:
        return agent
    known = {e.path for e in agent.knowledge}
    added = [e for e in extras if e.path not in known]
    return agent.model_copy(update={"knowledge": [*agent.knowledge, *added]})
