"""What the in-turn memory search and fresh, unindexed rows cost.

    .venv-dev/bin/python -m benchmarks.run memory_tool

- ``memory_search`` with two queries on a store of 20k memories (the local MiniLM
  embeds the queries, as in a turn): the time the tool call adds;
- the tokens the tool's definition and its system-prompt line add to a request;
- the full-text leg (LanceDB's ``nearest_to_text`` under the user scope, as the
  hybrid search runs it) with 0, 300 and 3000 rows written after the index was
  built: LanceDB searches those with a flat pass, which is what keeps a memory
  written a second ago findable without optimising on every write.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_memory import bulk_rows
from benchmarks.common import Result

ROWS = 20_000
USER = "user007"


async def _fts_ms(table: Any, scope: str, repeat: int) -> float:
    samples = []
    for n in range(repeat):
        start = time.perf_counter()
        await table.query().nearest_to_text(f"tea jazz {n % 5}").where(scope).limit(40).to_list()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def _measure(folder: Path, quick: bool) -> list[Result]:
    from muxi_cli.config.schema import AgentConfig, Formation
    from muxi_cli.core import memory_tool
    from muxi_cli.memory.embeddings import LocalEmbedder
    from muxi_cli.memory.service import MemoryService
    from muxi_cli.stores.lance_schema import MEMORIES

    embedder = LocalEmbedder()
    form = Formation.model_validate({"memory": {"uri": str(folder / "store")}})
    svc = MemoryService(form, None, base_dir=folder, embedder=embedder)
    store = await svc.store()
    store.maintenance.every = 0  # the benchmark decides when the index is refreshed
    records = await svc.records()
    # Random unit vectors labelled as the local model's: the store is measured, not the model.
    rows = bulk_rows(ROWS, embedder.dims, embedder.name)
    for start in range(0, ROWS, 5000):
        await records.add(rows[start : start + 5000])
    await store.optimize()
    repeat = 10 if quick else 40

    agent = AgentConfig(name="bench")
    arguments = {"queries": ["what does the user drink", "music the user likes"]}
    await memory_tool.run(svc, agent, USER, arguments)  # loads the model
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await memory_tool.run(svc, agent, USER, arguments)
        samples.append((time.perf_counter() - start) * 1000)
    spec = memory_tool.TOOL.spec
    definition = json.dumps(
        {"name": spec.name, "description": spec.description, "parameters": spec.input_schema}
    )
    tokens = (len(definition) + len(memory_tool.SYSTEM_HINT)) // 4
    results = [
        Result(
            f"memory_search, 2 queries ({ROWS // 1000}k memories)",
            round(statistics.median(samples), 1),
            "ms",
            note="p50; local MiniLM embeds each query, then one hybrid search each",
        ),
        Result("memory_search definition + prompt line", tokens, "tokens", note="chars / 4"),
    ]

    table = store.table(MEMORIES)
    scope = records.scope(USER, shared=True)
    written = 0
    for unindexed in (0, 300, 3000):
        while written < unindexed:
            # Small commits, as turns write them: one fragment each.
            late = bulk_rows(10, embedder.dims, embedder.name, seed=1000 + written)
            for row in late:
                row["content_hash"] = f"late{written}-{row['content_hash']}"
            await records.add(late)
            written += 10
        results.append(
            Result(
                f"full-text leg p50, {unindexed} unindexed rows ({ROWS // 1000}k indexed)",
                round(await _fts_ms(table, scope, repeat), 1),
                "ms",
                note="rows written since the last optimize are searched with a flat pass",
            )
        )
    await svc.aclose()
    return results


def run(quick: bool) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_measure(Path(tmp), quick))
