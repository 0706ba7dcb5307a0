"""What the memory write side costs: questions at extraction, the supersession check.

``python -m benchmarks.memory_write_cost [SET.json]`` prints, for the facts of a
labelled set (benchmarks/memory_sets/dev.json by default; its facts carry the
questions a good model writes and which older facts they supersede):

- the extra extraction prompt tokens when questions are on (once per extraction
  call, whatever the number of facts);
- the extra answer tokens per fact (the ``"questions": [...]`` member of the JSON);
- the judge's prompt tokens by number of candidates, and its answer;
- with ``--band``, for lower bounds of the judge's similarity band (local MiniLM):
  the share of the set's supersession pairs inside the band with the same subject
  (what the judge can catch) and the share of facts, written oldest first, that
  would cost a judge call.

Token counts two ways: muxi's own estimate (four characters a token, what the
buffer budget uses) and the local MiniLM's WordPiece tokenizer (a real subword
count; hosted models' BPE tokenizers land near it for English). No model is called.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from muxi_cli.memory import supersede
from muxi_cli.memory.buffer import estimate_tokens
from muxi_cli.memory.extract import EXTRACT_SYSTEM, EXTRACT_SYSTEM_QUESTIONS

DEFAULT_SET = Path(__file__).parent / "memory_sets" / "dev.json"

Count = Callable[[str], int]


def _wordpiece() -> Count:
    from muxi_cli.memory.embeddings import build_tokenizer  # deferred: loads tokenizers

    tokenizer = build_tokenizer(max_length=100_000)  # the bundled vocabulary, no truncation
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def _counters() -> dict[str, Count]:
    counters: dict[str, Count] = {"estimate": estimate_tokens}
    try:
        counters["wordpiece"] = _wordpiece()
    except Exception as exc:  # the local model's package is optional
        print(f"(no WordPiece count: {exc})", file=sys.stderr)
    return counters


def report(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    facts = [f for f in data["facts"] if f.get("questions")]
    lines = [f"{path.name}: {len(facts)} facts with questions"]
    for name, count in _counters().items():
        prompt = count(EXTRACT_SYSTEM_QUESTIONS) - count(EXTRACT_SYSTEM)
        # The answer's extra member, as the model writes it inside each fact.
        extra = [count(f'"questions": {json.dumps(f["questions"])}, ') for f in facts]
        base = [
            count(json.dumps({"text": f["text"], "subject": f.get("subject", "user"),
                              "importance": f.get("importance", 0.5), "replaces": []}))
            for f in facts
        ]  # fmt: skip
        judge = []
        for n in range(1, 5):
            olds = [{"id": str(i), "text": f["text"]} for i, f in enumerate(facts[1 : n + 1])]
            text = supersede.judge_prompt(facts[0]["text"], olds)
            judge.append(count(supersede.JUDGE_SYSTEM) + count(text))
        lines += [
            f"[{name}] questions: +{prompt} prompt tokens per extraction call; "
            f"+{statistics.mean(extra):.1f} answer tokens per fact "
            f"(median {statistics.median(extra):.0f}, max {max(extra)}) over "
            f"{statistics.mean(base):.1f} for the fact without them",
            f"[{name}] judge prompt by candidates 1-4: {judge}; "
            f"answer {count(json.dumps({'replaces': [1]}))} (max_tokens {supersede.MAX_TOKENS})",
        ]
    return "\n".join(lines)


def band(path: Path, bounds: tuple[float, ...] = (0.35, 0.4, 0.45, 0.5, 0.55)) -> str:
    """Judge band lower bounds against the set's supersession pairs (local MiniLM)."""
    from muxi_cli.memory.embeddings import LocalEmbedder  # deferred: loads the model
    from muxi_cli.memory.extract import JUDGE_CANDIDATES, NEIGHBOURS
    from muxi_cli.memory.facts import subject_for
    from muxi_cli.memory.scoring import SUPERSEDE_SIMILARITY

    facts = json.loads(path.read_text(encoding="utf-8"))["facts"]
    vectors = LocalEmbedder().embed_sync([f["text"] for f in facts])
    subjects = [subject_for({"text": f["text"], "subject": f.get("subject")}) for f in facts]
    index = {f["id"]: n for n, f in enumerate(facts)}
    pairs = [
        (index[f["id"]], index[old])
        for f in facts
        for old in f.get("supersedes") or []
        if old in index
    ]
    # Written oldest first: each fact meets the same-subject facts written before it.
    order = sorted(range(len(facts)), key=lambda n: -float(facts[n].get("days_ago") or 0))
    lines = [f"{path.name}: {len(pairs)} supersession pairs, {len(facts)} facts"]
    for low in bounds:
        caught = sum(
            1
            for new, old in pairs
            if subjects[new] == subjects[old]
            and low <= float(vectors[new] @ vectors[old]) < SUPERSEDE_SIMILARITY
        )
        calls, sizes = 0, []
        for k, n in enumerate(order):
            same = [
                s
                for s, m in sorted(
                    ((float(vectors[n] @ vectors[m]), m) for m in order[:k]), reverse=True
                )[:NEIGHBOURS]
                if subjects[m] == subjects[n] and low <= s < SUPERSEDE_SIMILARITY
            ]
            if same:
                calls += 1
                sizes.append(min(len(same), JUDGE_CANDIDATES))
        mean = statistics.mean(sizes) if sizes else 0.0
        lines.append(
            f"lower bound {low:.2f}: pairs the judge sees {caught}/{len(pairs)} "
            f"({caught / max(1, len(pairs)):.0%}); facts with a judge call {calls}/{len(facts)} "
            f"({calls / max(1, len(facts)):.0%}), {mean:.1f} candidates a call"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--band"]
    target = Path(args[0]) if args else DEFAULT_SET
    print(report(target))
    if "--band" in sys.argv:
        print(band(target))
