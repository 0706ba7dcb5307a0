"""One scripted set of turns for the stats tests: routing to two agents, a tool
allowed, one denied (``ask``, and the request's approval mode is ``deny``), a
failing tool, a delegation, a memory recall, a cached route."""

from __future__ import annotations

from pathlib import Path

from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.local import LocalRuntime
from tests.fakellm import FakeLLM, Reply, Text, ToolCalls

TEAM = """
router:
  model: openai/router
pricing:
  openai/router: {input: 1.0, output: 2.0}
  openai/coder-model: {input: 3.0, output: 15.0}
memory:
  embedding: hash
agents:
  - name: writer
    description: Writes prose.
    model: openai/writer-model
    memory: {enabled: false}
  - name: coder
    description: Writes code and computes.
    model: openai/coder-model
    delegates: [writer]
    tools:
      - builtin: calculator
        approval: allow
      - builtin: datetime
        approval: ask
    memory: {extract_every: 1000, search_tool: off}
"""

USER = "alice"


def replies() -> list[Reply]:
    return [
        # turn 1: the router picks coder; coder calls three tools, then asks writer
        ToolCalls([("choose_agent", {"agent": "coder", "reason": "maths"})], usage=(40, 8)),
        ToolCalls(
            [
                ("calculator", {"expression": "2 + 2"}),
                ("datetime", {}),
                ("calculator", {"expression": "nope("}),
            ],
            usage=(20, 10),
        ),
        ToolCalls([("ask_writer", {"question": "a haiku about 4"})], usage=(30, 5)),
        Text("Four corners of code", usage=(7, 3)),
        Text("2 + 2 = 4. Four corners of code", usage=(11, 4)),
        # turn 2: the router picks writer
        ToolCalls([("choose_agent", {"agent": "writer", "reason": "prose"})], usage=(40, 8)),
        Text("Once upon a time", usage=(5, 4)),
        # turn 3: the same question: the route comes from the cache
        Text("Once upon a time, again", usage=(5, 5)),
    ]


MESSAGES = ["what is 2 + 2, as a haiku?", "tell me a story", "tell me a story"]


async def run_turns(fake: FakeLLM, config: Path, sessions: Path | None = None) -> None:
    fake.script(*replies())
    rt = await LocalRuntime.open(config, user_id=USER, sessions_path=sessions)
    try:
        await rt.memory_add("User loves haiku about numbers", user_id=USER)
        for message in MESSAGES:
            turn = await rt.chat(ChatRequest(message=message, user_id=USER))
            _ = [e async for e in turn.events()]
    finally:
        await rt.aclose()
