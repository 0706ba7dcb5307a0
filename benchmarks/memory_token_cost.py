"""Token cost of the memory write side: questions at extraction, the supersession judge.

``python -m benchmarks.memory_token_cost [SET.json]`` prints, for the facts of a
labelled set (benchmarks/memory_sets/dev.json by default; its facts carry the
questions a good model writes):

- the extra extraction prompt tokens when questions are on (once per extraction
  call, whatever the number of facts);
- the extra answer tokens per fact (the ``"questions": [...]`` member of the JSON);
- the judge's prompt tokens by number of candidates, and its answer.

Two counts each: muxi's own estimate (four characters a token, what the buffer
budget uses) and the local MiniLM's WordPiece tokenizer (a real subword count; hosted
models' BPE tokenizers land near it for English). No model is called.
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


if __name__ == "__main__":
    print(report(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SET))
