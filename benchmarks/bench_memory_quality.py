"""Retrieval quality of long-term memory on the labelled sets (``benchmarks/memory_sets``).

    .venv-dev/bin/python -m benchmarks.run memory_quality [--set dev|check|all]
    .venv-dev/bin/python -m benchmarks.bench_memory_quality --set dev

Each set (format in ``benchmarks/memory_sets/README`` and issue 18) is loaded into a
real LanceDB store in a temporary folder with the local MiniLM embedder: the noise
and the other users' memories in bulk, the main user's facts one by one, oldest
first, through the production write path (``remember``), in two conditions:

- **no model**: no judge, no questions: only similarity (>= 0.95) and the rules of
  :func:`muxi_cli.memory.changes.clear_update` (same slot, a change cue) link a change;
- **judge only**: the write-time judge (``remember(judge=...)``) is scripted from the
  set's ``supersedes``: it links what it is shown (same subject, similarity band),
  the extractor links nothing; facts carry their ``questions``;
- **scripted model**: a model that knows the set's ``supersedes`` links every change
  (the extractor's ``replaces``, plus the judge) and writes the ``questions``.

Every query then runs through :meth:`MemoryService.search` (top 10) with the clock
fixed at the set's ``now``, once per ranking configuration (:data:`CONFIGS`).
Metrics: recall@k = |expected ∩ top k| / min(|expected|, k), averaged; MRR of the
first expected hit; stale_first = queries where a ``stale`` id ranks above every
expected one; leaks = hits of other users (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Result

SETS = ROOT / "benchmarks" / "memory_sets"
#: Table title: how the facts were written (see the module docstring).
CONDITIONS = {"no model": "none", "judge only": "judge", "scripted model": "scripted"}
DAY = 86400.0
TOP = 10


def _configs() -> list[tuple[str, Any]]:
    from muxi_cli.memory.rank import RankOptions

    none = RankOptions(
        fusion="rrf", subjects=False, current=False, dates=False, questions=False, decay=False
    )
    return [
        ("today: hybrid RRF", none),
        ("plain vector", replace(none, fusion="vector")),
        ("+ gated fusion", replace(none, fusion="gated")),
        ("+ subjects", replace(none, subjects=True)),
        ("+ current", replace(none, current=True)),
        ("+ dates", replace(none, dates=True)),
        ("+ questions", replace(none, questions=True)),
        ("all, RRF fusion", RankOptions(fusion="rrf")),
        ("all, no decay", RankOptions(decay=False)),
        ("all together", RankOptions()),
    ]


@dataclass
class Score:
    """Sums over queries (divide by ``n``)."""

    n: int = 0
    r5: float = 0.0
    r10: float = 0.0
    mrr: float = 0.0
    stale_first: int = 0
    leaks: int = 0

    def add(self, ranked: list[str], expected: list[str], stale: list[str], leaks: int) -> None:
        self.n += 1
        want = set(expected)
        for k in (5, 10):
            got = len(want & set(ranked[:k])) / min(len(want), k)
            if k == 5:
                self.r5 += got
            else:
                self.r10 += got
        first = next((i for i, x in enumerate(ranked) if x in want), None)
        self.mrr += 0.0 if first is None else 1.0 / (first + 1)
        first_stale = next((i for i, x in enumerate(ranked) if x in set(stale)), None)
        if first_stale is not None and (first is None or first_stale < first):
            self.stale_first += 1
        self.leaks += leaks

    def row(self) -> tuple[str, ...]:
        n = max(self.n, 1)
        return (
            f"{self.r5 / n:.2f}",
            f"{self.r10 / n:.2f}",
            f"{self.mrr / n:.2f}",
            str(self.stale_first),
            str(self.leaks),
        )


@dataclass
class Run:
    overall: Score = field(default_factory=Score)
    kinds: dict[str, Score] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)


class CachedEmbedder:
    """The local MiniLM with every text embedded once (the set is embedded in bulk)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.dims = inner.name, inner.dims
        self.cache: dict[str, Any] = {}

    async def warm(self, texts: list[str]) -> None:
        todo = sorted({t for t in texts if t not in self.cache})
        for start in range(0, len(todo), 256):
            chunk = todo[start : start + 256]
            for text, vector in zip(chunk, await self.inner.embed(chunk), strict=True):
                self.cache[text] = vector

    async def embed(self, texts: list[str]) -> Any:
        import numpy as np

        await self.warm(texts)
        return np.stack([self.cache[t] for t in texts])


def load_set(name: str) -> dict[str, Any]:
    path = Path(name) if name.endswith(".json") else SETS / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def set_now(data: dict[str, Any]) -> float:
    return datetime.fromisoformat(data["now"].replace("Z", "+00:00")).timestamp()


async def load_store(
    data: dict[str, Any], folder: Path, embedder: CachedEmbedder, *, model: str = "scripted"
) -> tuple[Any, dict[str, str]]:
    """A MemoryService over a fresh store holding the set; ``{row id: set id}``."""
    from muxi_cli.config.schema import Formation
    from muxi_cli.memory import extract
    from muxi_cli.memory.service import MemoryService

    now = set_now(data)
    formation = Formation.model_validate({"memory": {"uri": str(folder)}})
    service = MemoryService(formation, None, embedder=embedder, clock=lambda: now)
    records = await service.records()
    facts = data["facts"]
    await embedder.warm(
        [f["text"] for f in facts]
        + [n["text"] for n in data["noise"]]
        + [o["text"] for o in data["others"]]
        + [q["query"] for q in data["queries"]]
    )
    from muxi_cli.memory.facts import annotate

    names: dict[str, str] = {}
    bulk = []
    for item in [*data["noise"], *data["others"]]:
        text = " ".join(item["text"].split())
        stamp = now - float(item["days_ago"]) * DAY
        row = {
            "user_id": item.get("user", data["user"]),
            "kind": "fact",
            "text": text,
            "content_hash": item["id"],
            "vector": embedder.cache[item["text"]].tolist(),
            "embedding_model": embedder.name,
            "created_at": stamp,
            "updated_at": stamp,
            "last_used_at": stamp,
            "importance": float(item.get("importance", 0.5)),  # records.add's default
        }
        row = annotate(row, said_at=stamp)
        bulk.append(row)
    for start in range(0, len(bulk), 1000):
        await records.add(bulk[start : start + 1000])
    for row, item in zip(bulk, [*data["noise"], *data["others"]], strict=True):
        names[row["id"]] = item["id"]
    by_set_id: dict[str, str] = {}
    for fact in sorted(facts, key=lambda f: -float(f["days_ago"])):
        stamp = now - float(fact["days_ago"]) * DAY
        kwargs: dict[str, Any] = {}
        kwargs["said_at"] = stamp
        if model != "none":
            old = {by_set_id[s] for s in fact.get("supersedes", []) if s in by_set_id}
            kwargs["judge"] = _judge(old)
            kwargs["questions"] = list(fact.get("questions") or [])
            if model == "scripted":
                kwargs["replaces"] = sorted(old)
        stored = await extract.remember(
            records,
            embedder,  # type: ignore[arg-type]
            data["user"],
            fact["text"],
            kind="fact",
            importance=float(fact.get("importance", 0.5)),
            source="extraction",
            **kwargs,
        )
        row_id = stored.row["id"]
        by_set_id[fact["id"]] = row_id
        names[row_id] = fact["id"]
    return service, names


def _judge(old: set[str]) -> Any:
    async def judge(text: str, candidates: list[dict[str, Any]]) -> list[str]:
        return [c["id"] for c in candidates if c["id"] in old]

    return judge


async def measure(service: Any, data: dict[str, Any], names: dict[str, str], options: Any) -> Run:
    service.ranking = options
    run = Run()
    for query in data["queries"]:
        found = await service.search(query["query"], data["user"], limit=TOP)
        leaks = sum(1 for item in found if item.user_id not in (data["user"], "*"))
        ranked = [names.get(item.id, item.id) for item in found]
        expected, stale = list(query["expected"]), list(query.get("stale", []))
        run.overall.add(ranked, expected, stale, leaks)
        run.kinds.setdefault(query["kind"], Score()).add(ranked, expected, stale, leaks)
        if not set(expected) & set(ranked[:5]):
            run.misses.append(f"{query['id']} {query['kind']}: {query['query']!r} -> {ranked[:5]}")
    return run


async def evaluate(name: str, folder: Path) -> dict[str, dict[str, Run]]:
    """``{condition: {config label: Run}}`` for one set."""
    from muxi_cli.memory.embeddings import LocalEmbedder

    data = load_set(name)
    embedder = CachedEmbedder(LocalEmbedder())
    results: dict[str, dict[str, Run]] = {}
    for condition, model in CONDITIONS.items():
        service, names = await load_store(
            data, folder / f"{Path(name).stem}-{model}", embedder, model=model
        )
        try:
            results[condition] = {
                label: await measure(service, data, names, options) for label, options in _configs()
            }
        finally:
            await service.aclose()
    return results


async def change_rules(name: str) -> str:
    """How often the no-model change rules hold for pairs of the set's facts (older,
    newer), against its ``supersedes``: recall's reordering (direct and chained changes
    count as right) and the write side's link (direct changes only)."""
    from muxi_cli.memory import changes, rank
    from muxi_cli.memory.embeddings import LocalEmbedder
    from muxi_cli.memory.facts import subject_for

    facts = load_set(name)["facts"]
    vectors = await CachedEmbedder(LocalEmbedder()).embed([f["text"] for f in facts])
    similar = vectors @ vectors.T
    direct = {(old, f["id"]) for f in facts for old in f.get("supersedes", [])}
    chained = set(direct)
    while grown := {(a, d) for a, b in chained for c, d in chained if b == c} - chained:
        chained |= grown
    counts = {"reorder": [0, 0], "link": [0, 0]}  # [right, wrong]
    linked: set[tuple[str, str]] = set()
    for i, old in enumerate(facts):
        for j, new in enumerate(facts):
            if float(old["days_ago"]) <= float(new["days_ago"]):
                continue
            pair, sim = (old["id"], new["id"]), float(similar[i, j])
            rows = [
                {"text": f["text"], "subject": subject_for({"text": f["text"]})} for f in (old, new)
            ]
            if rank.reads_like_update(rows[0], rows[1], sim):
                counts["reorder"][pair not in chained] += 1
            texts = (old["text"], rows[0]["subject"], new["text"], rows[1]["subject"])
            if changes.clear_update(texts[0], texts[1], texts[2], texts[3], sim):
                counts["link"][pair not in direct] += 1
                linked.add(pair)
    right, wrong = counts["reorder"]
    link_right, link_wrong = counts["link"]
    return (
        f"{name} set, change rules without a model: recall reorders {right + wrong} pairs, "
        f"{right} of them changes (precision {right / max(right + wrong, 1):.2f}); the write "
        f"side links {link_right + link_wrong} pairs, {link_right} right (precision "
        f"{link_right / max(link_right + link_wrong, 1):.2f}, recall "
        f"{len(linked & direct)}/{len(direct)})"
    )


def table(title: str, runs: dict[str, Run]) -> str:
    kinds = sorted({k for run in runs.values() for k in run.kinds})
    head = ["ranking", "recall@5", "recall@10", "MRR", "stale first", "leaks"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, run in runs.items():
        lines.append("| " + " | ".join((label, *run.overall.row())) + " |")
    lines += ["", "recall@5 by kind:", ""]
    lines.append("| ranking | " + " | ".join(f"{k} ({runs_n(runs, k)})" for k in kinds) + " |")
    lines.append("|---" * (len(kinds) + 1) + "|")
    for label, run in runs.items():
        cells = [f"{run.kinds[k].r5 / max(run.kinds[k].n, 1):.2f}" for k in kinds]
        lines.append("| " + " | ".join((label, *cells)) + " |")
    return "\n".join(lines)


def runs_n(runs: dict[str, Run], kind: str) -> int:
    return next(iter(runs.values())).kinds[kind].n


def _names(which: str) -> list[str]:
    if which == "all":
        return [n for n in ("dev", "check") if (SETS / f"{n}.json").exists()]
    return [which]


def run(quick: bool, sets: str = "dev", misses: bool = False) -> list[Result]:
    os.environ.setdefault("LANCEDB_LOG", "error")
    folder = Path(tempfile.mkdtemp(prefix="muxi-bench-quality-"))
    results: list[Result] = []
    try:
        for name in _names(sets):
            print(asyncio.run(change_rules(name)), end="\n\n", flush=True)
            for condition, runs in asyncio.run(evaluate(name, folder)).items():
                print(table(f"{name} set, {condition}", runs), end="\n\n", flush=True)
                if misses:
                    print("\n".join(runs["all together"].misses), end="\n\n")
                for label in ("today: hybrid RRF", "plain vector", "all together"):
                    score = runs[label].overall
                    r5, r10, mrr, stale, leaks = score.row()
                    results.append(
                        Result(
                            f"{name}/{condition}: {label} recall@5",
                            float(r5),
                            "",
                            target=">= 0.85" if label == "all together" else None,
                            note=f"recall@10 {r10}, MRR {mrr}, stale first {stale}, leaks {leaks}",
                        )
                    )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="dev", help="dev, check, all or a path to a .json set")
    parser.add_argument(
        "--misses", action="store_true", help="list the queries all-together misses"
    )
    args = parser.parse_args()
    for result in run(False, args.set, args.misses):
        print(result.name, result.value, result.note)
