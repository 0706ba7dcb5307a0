"""Local administration: the one place where a front end works on this machine's stores.

Chat, listing and searching go through a :class:`~muxi_cli.runtime.base.Runtime`,
so they work locally and against a ``muxi serve``. Some commands work on the
local resources themselves and have no remote form: exporting, importing,
pruning, re-embedding and inspecting the memory store, ingesting knowledge,
calling an MCP tool with no model in between. They come here, and only here:

- :func:`local_formation` refuses a remote profile with a usage error (exit 2)
  that says why the command must run on the machine that has the store;
- :func:`open_memory_admin` yields a :class:`MemoryAdmin` over the formation's
  memory store (memories and knowledge);
- :func:`call_tool` starts one MCP server of the formation and calls a tool.

The CLI's admin commands use this module and nothing below it
(``pyproject.toml``'s forbidden contract for ``muxi_cli.cli`` and ``muxi_cli.tui``).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from muxi_cli.config.loader import load_formation
from muxi_cli.errors import MuxiError, UsageError
from muxi_cli.memory import prune as pruning
from muxi_cli.memory import transfer
from muxi_cli.runtime.factory import LOCAL, selected_profile
from muxi_cli.stores.server_keys import (
    ENV_ADMIN_KEY,
    PINNED_HINT,
    KeyStore,
    pinned_key_problem,
)

if TYPE_CHECKING:
    from muxi_cli.config.schema import AgentConfig, Formation
    from muxi_cli.memory.knowledge import IngestReport
    from muxi_cli.memory.service import MemoryService
    from muxi_cli.tools.base import ToolOutcome

__all__ = [
    "IngestReport",
    "MemoryAdmin",
    "ToolOutcome",
    "call_tool",
    "local_formation",
    "open_memory_admin",
    "read_export",
]

#: ``(done, total)`` of a long job; knowledge ingestion adds the file being read.
Progress = Callable[[int, int], None]
FileProgress = Callable[[int, int, str], None]

#: Why the memory and knowledge commands need the local profile.
MEMORY_STORE = "works on this machine's memory store"


def local_formation(
    profile: str | None, config: str | None, command: str, why: str
) -> tuple[Formation, Path]:
    """This machine's formation and its folder, for ``muxi {command}``.

    Raises :class:`UsageError` when ``profile`` selects a remote muxi: the
    command ``{why}``, so it cannot act through a server.
    """
    name = selected_profile(profile)
    if name != LOCAL:
        raise UsageError(
            f"`muxi {command}` {why}, so it works with the local profile only "
            f"(the selected profile {name!r} is a remote muxi)",
            "Run it on the machine that runs `muxi serve`, or add `--profile local`.",
        )
    loaded = load_formation(config)
    base_dir = loaded.path.parent if loaded.path is not None else Path.cwd()
    return loaded.formation, base_dir


@contextlib.asynccontextmanager
async def open_memory_admin(
    profile: str | None, config: str | None, command: str
) -> AsyncIterator[MemoryAdmin]:
    """A :class:`MemoryAdmin` on this machine's memory store (local profile only)."""
    formation, base_dir = local_formation(profile, config, command, MEMORY_STORE)
    # The memory service pulls in the LanceDB layer and the embedders; the
    # commands that go through a Runtime never need them.
    from muxi_cli.memory.service import MemoryService

    service = MemoryService(formation, None, base_dir=base_dir)
    try:
        yield MemoryAdmin(service)
    finally:
        await service.aclose()


def read_export(file: str, stdin: IO[str]) -> list[dict[str, Any]]:
    """The records of a ``muxi memory export`` file (``-`` = ``stdin``), checked line by line."""

    if file == "-":
        return list(transfer.read_lines(stdin))
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"no file {file!r}", "give the path of an export file")
    with path.open(encoding="utf-8") as stream:
        return list(transfer.read_lines(stream))


class MemoryAdmin:
    """Administration of one memory store: memories, the store itself, and knowledge."""

    def __init__(self, service: MemoryService) -> None:
        self._service = service

    # -- memories ------------------------------------------------------------------

    async def count_user(self, user_id: str) -> int:
        """Every memory of ``user_id``, superseded versions included."""
        rows = await self._service.list(user_id, limit=1_000_000, include_superseded=True)
        return len(rows)

    async def forget_user(self, user_id: str) -> int:
        """Erase everything remembered about ``user_id``; returns how many memories went."""
        return await self._service.forget_user(user_id)

    async def export(self, stream: IO[str] | None, user_id: str | None = None) -> tuple[int, str]:
        """Memories as JSONL (vectors and their model included) to ``stream``.

        With ``stream`` None the text is returned instead (for a file written at once).
        """

        records = await self._service.records()
        if stream is not None:
            return await transfer.export_memories(records, stream, user_id=user_id), ""
        buffer = io.StringIO()
        count = await transfer.export_memories(records, buffer, user_id=user_id)
        return count, buffer.getvalue()

    async def import_records(
        self, items: list[dict[str, Any]], progress: Progress | None = None
    ) -> dict[str, int]:
        """Import exported records (same ids update); re-embeds those of another model."""

        service = self._service
        return await transfer.import_rows(
            await service.store(), service.embedder, items, progress=progress
        )

    async def prune(
        self,
        *,
        user_id: str | None,
        ttl_days: float | None,
        max_per_user: int | None,
        apply: bool,
    ) -> list[dict[str, Any]]:
        """Expired and excess memories (``memory:`` settings unless overridden); ``apply`` drops them.

        Each is ``{id, user_id, reason, score, text}``.
        """

        settings = self._service.formation.memory
        items = await pruning.prune(
            await self._service.records(),
            ttl_days=ttl_days if ttl_days is not None else settings.ttl_days,
            max_per_user=max_per_user if max_per_user is not None else settings.max_per_user,
            user_id=user_id,
            dry_run=not apply,
        )
        return [
            {"id": i.row["id"], "user_id": i.row["user_id"], "reason": i.reason,
             "score": round(i.score, 4), "text": i.row["text"]}
            for i in items
        ]  # fmt: skip

    async def set_extraction(self, user_id: str, enabled: bool | None) -> bool:
        """Switch long-term extraction for ``user_id`` (None: leave it); returns the state."""
        if enabled is not None:
            await self._service.set_long_term(user_id, enabled)
        return await self._service.long_term_enabled(user_id)

    # -- the store -----------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        """Counts, the embedding model, schema version, table versions and size on disk."""
        service = self._service
        store = await service.store()
        rows = await (await service.records()).scan_all()
        meta = await store.meta()
        by_kind: dict[str, int] = {}
        users = set()
        superseded = 0
        for row in rows:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
            users.add(row["user_id"])
            superseded += row.get("superseded_by") is not None
        chunks = await (await service.chunks()).counts()
        agents: dict[str, int] = {}
        for (agent, _source), n in chunks.items():
            agents[agent] = agents.get(agent, 0) + n
        return {
            "uri": store.uri,
            "schema_version": int(meta.get("schema_version", "0")),
            "embedding_model": meta.get("embedding_model"),
            "configured_model": service.embedder.name,
            "needs_reindex": store.mismatch is not None,
            "memories": len(rows),
            "superseded": superseded,
            "users": len(users - {"*"}),
            "shared": sum(1 for r in rows if r["user_id"] == "*"),
            "by_kind": by_kind,
            "knowledge_chunks": agents,
            "versions": await store.versions(),
            "disk_bytes": store.disk_bytes(),
        }

    async def reindex_plan(self) -> tuple[str | None, str, int]:
        """``(stored model, configured model, rows to re-embed)``."""
        store = await self._service.store()
        meta = await store.meta()
        total = await store.count("memories") + await store.count("chunks")
        return meta.get("embedding_model"), self._service.embedder.name, total

    async def reindex(self, progress: Progress | None = None) -> dict[str, int]:
        """Re-embed every memory and knowledge chunk with the configured model."""

        service = self._service
        return await transfer.reindex(await service.store(), service.embedder, progress=progress)

    async def optimize(self) -> dict[str, Any]:
        """Compact the files, refresh the indexes, drop old versions; sizes before and after."""
        store = await self._service.store()
        before = store.disk_bytes()
        result = await store.optimize()
        return {"tables": result, "bytes_before": before, "bytes_after": store.disk_bytes()}

    # -- knowledge -----------------------------------------------------------------

    @property
    def default_agent(self) -> AgentConfig:
        return self._service.formation.default

    def agents(self, name: str | None) -> list[AgentConfig]:
        """Every agent (``name`` None) or the one named; an unknown name is a usage error."""
        formation = self._service.formation
        if name is None:
            return list(formation.agents)
        agent = formation.agent(name)
        if agent is None:
            names = ", ".join(a.name for a in formation.agents)
            raise UsageError(f"no agent {name!r}", f"agents of this formation: {names}")
        return [agent]

    async def ingest(
        self,
        agent: AgentConfig,
        *,
        force: bool = False,
        add: tuple[Path, str] | None = None,
        progress: FileProgress | None = None,
    ) -> IngestReport:
        """Add ``(path, description)`` to the agent's knowledge, or bring it in line with its files."""
        if add is not None:
            return await self._service.add_knowledge(agent, add[0], add[1], progress=progress)
        return await self._service.sync_knowledge(agent, force=force, progress=progress)

    async def knowledge(self, agents: list[AgentConfig]) -> list[dict[str, Any]]:
        """Each agent's knowledge entries and ingested files (agents with neither are left out)."""
        out: list[dict[str, Any]] = []
        chunks = await self._service.chunks()
        for a in agents:
            entries = await self._service.knowledge_entries(a)
            counts = await chunks.counts(a.name)
            if not entries and not counts:
                continue
            out.append(
                {
                    "agent": a.name,
                    "entries": [
                        {"path": p, "description": d, "added_with_cli": cli}
                        for p, d, cli in entries
                    ],
                    "files": [{"source": s, "chunks": n} for (_a, s), n in sorted(counts.items())],
                }
            )
        return out


async def call_tool(
    profile: str | None, config: str | None, server: str, tool: str, arguments: dict[str, Any]
) -> ToolOutcome:
    """Call ``tool`` of MCP server ``server`` directly: no model, no approval (local only).

    Only that server is started (when the formation declares it).
    """
    formation, base_dir = local_formation(
        profile, config, "mcp call", "talks to MCP servers directly"
    )
    # The tool host pulls in the MCP SDK; only `muxi mcp call` needs it here.
    from muxi_cli.tools.host import ToolManager

    if server in formation.mcp_servers:
        formation = formation.model_copy(
            update={"mcp_servers": {server: formation.mcp_servers[server]}}
        )
    manager = ToolManager(formation, base_dir=base_dir)
    try:
        await manager.start()
        return await manager.call(await manager.server_tool(server, tool), arguments)
    finally:
        await manager.aclose()


def local_keys() -> KeyStore:
    """This machine's ``muxi serve`` key file, for ``muxi keys`` with the local
    profile (the pinned ``MUXI_ADMIN_KEY`` is left out: it is never listed); the
    shared database's keys when ``MUXI_DATABASE_URL`` names one."""
    from muxi_cli.stores.pg_keys import key_store  # deferred: only `muxi keys` needs it

    return key_store(env_admin_key="")


def weak_pinned_key(environ: dict[str, str]) -> UsageError | None:
    """A ``MUXI_ADMIN_KEY`` weaker than a generated key, as the error ``muxi serve``
    refuses to start with; None when it is unset or strong enough."""
    pinned = environ.get(ENV_ADMIN_KEY)
    if not pinned:
        return None
    why = pinned_key_problem(pinned)
    if why is None:
        return None
    return UsageError(f"{ENV_ADMIN_KEY} is too weak to be an admin key: {why}", hint=PINNED_HINT)


def database_url_problem(url: str | None) -> MuxiError | None:
    """Why ``url`` (``--database-url``, else ``MUXI_DATABASE_URL``) cannot name the
    shared database, as ``muxi serve`` refuses to start with; None when it can."""
    from muxi_cli.stores import pgconn  # deferred: only servers given a database URL

    try:
        pgconn.database_url(url)
    except MuxiError as exc:
        return exc
    return None
