"""Every event a real ``muxi serve`` emits validates against the committed
``docs/api/events.schema.json``, and the schema is strict enough to matter: an
event missing a required field, or with a field of the wrong type, fails.

The turns cover what clients see: streamed text (SSE), a tool call allowed by
policy (SSE), an interactive approval (WebSocket), a delegation (the
delegate's events nested in the stream), a cancel mid-stream and a failed
model call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from websockets.asyncio.client import connect

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.schema import type_names
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import Error, FakeLLM, Slow, Text, ToolCalls
from tests.runtime.contract import FORMATION_EXTRA
from tests.server.serveproc import ROOT, ServeProcess

pytestmark = pytest.mark.timeout(120)

SCHEMA = json.loads((ROOT / "docs" / "api" / "events.schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
SSE = {"accept": "text/event-stream"}
#: The contract formation's agent, which may also hand a task to a writer.
TEAM = (
    FORMATION_EXTRA.rstrip("\n")
    + """
    delegates: [writer]
  - name: writer
    description: Writes prose.
"""
)


def test_the_committed_schema_is_valid_json_schema_and_names_every_type() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert set(SCHEMA["$defs"]) == set(type_names().values())
    for wire, name in type_names().items():
        assert SCHEMA["$defs"][name]["properties"]["type"]["const"] == wire
    assert [r["$ref"] for r in SCHEMA["oneOf"]] == [f"#/$defs/{n}" for n in sorted(SCHEMA["$defs"])]


@pytest.fixture(scope="module")
def server(
    module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, str]]:
    root = tmp_path_factory.mktemp("event-schema")
    home = root / "home"
    config = root / "muxi.yaml"
    config.write_text(module_llm.formation_yaml(extra=TEAM), encoding="utf-8")
    _, key = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    with ServeProcess(home, config) as proc:
        yield proc, key


def _sse_events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if data:
            out.append(json.loads("\n".join(data)))
    return out


async def _sse_turn(c: httpx.AsyncClient, key: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"agent": "assistant", **body}  # no routing: the scripts are the agent's calls
    r = await c.post("/v1/chat", headers={"authorization": f"Bearer {key}", **SSE}, json=body)
    assert r.status_code == 200, r.text
    return _sse_events(r.text)


COUNT = {"message": "count", "agent": "assistant"}


async def _cancelled_turn(c: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    """Cancel over HTTP as soon as the first text arrives; read the stream to its end."""
    auth = {"authorization": f"Bearer {key}"}
    got: list[dict[str, Any]] = []
    cancelled = False
    async with c.stream("POST", "/v1/chat", headers={**auth, **SSE}, json=COUNT) as r:
        buffer = ""
        async for chunk in r.aiter_text():
            buffer += chunk
            *blocks, buffer = buffer.split("\n\n")
            for block in blocks:
                got += _sse_events(block + "\n\n")
                if not cancelled and got and got[-1]["type"] == "text.delta":
                    cancel = await c.post(f"/v1/runs/{got[-1]['run_id']}/cancel", headers=auth)
                    assert cancel.status_code == 202, cancel.text
                    cancelled = True
    return got


async def _ws_approval_turn(url: str, key: str) -> list[dict[str, Any]]:
    """An interactive tool approval over the WebSocket: every frame that is an event."""
    got: list[dict[str, Any]] = []
    headers = {"authorization": f"Bearer {key}"}
    async with connect("ws" + url[4:] + "/v1/ws", additional_headers=headers) as ws:

        async def frame() -> dict[str, Any]:
            return dict(json.loads(await asyncio.wait_for(ws.recv(), 30)))

        assert (await frame())["type"] == "ready"
        request = {"message": "2+2?", "agent": "assistant", "approval": "interactive"}
        await ws.send(json.dumps({"type": "chat", "request": request}))
        while (f := await frame())["type"] != "done":
            assert f["type"] != "error", f
            got.append(f)
            if f["type"] == "tool.approval" and f["decision"] == "pending":
                answer = {"type": "approve", "run_id": f["run_id"], "call_id": f["call_id"]}
                await ws.send(json.dumps({**answer, "decision": "allow"}))
    return got


@pytest.fixture(scope="module")
def turns(server: tuple[ServeProcess, str], module_llm: FakeLLM) -> dict[str, list[dict[str, Any]]]:
    """The events of each kind of turn, as the server sent them."""
    proc, key = server

    async def run() -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        async with httpx.AsyncClient(base_url=proc.url, timeout=60) as c:
            module_llm.script(Text("streamed in a few words", chunks=4))
            out["text"] = await _sse_turn(c, key, {"message": "hi"})
            module_llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("42"))
            out["tool"] = await _sse_turn(c, key, {"message": "6*7?", "approval": "yes"})
            module_llm.script(ToolCalls([("calculator", {"expression": "2+2"})]), Text("4"))
            out["approval"] = await _ws_approval_turn(proc.url, key)
            module_llm.script(
                ToolCalls([("ask_writer", {"question": "a haiku about bugs"})]),
                Text("Bugs hide in the code"),
                Text("The writer says: Bugs hide in the code"),
            )
            out["delegation"] = await _sse_turn(c, key, {"message": "a haiku"})
            module_llm.script(Slow("one two three four five six seven eight", delay=0.3))
            out["cancel"] = await _cancelled_turn(c, key)
            module_llm.script(Error(401, "the key is not valid"))
            out["failure"] = await _sse_turn(c, key, {"message": "fail"})
        return out

    return asyncio.run(run())


def test_every_emitted_event_validates(turns: dict[str, list[dict[str, Any]]]) -> None:
    seen: set[str] = set()
    for name, events in turns.items():
        assert events, name
        for event in events:
            errors = [e.message for e in VALIDATOR.iter_errors(event)]
            assert not errors, (name, event, errors)
            # The specific $defs entry as well, not only "one of them".
            one = {"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{type_names()[event['type']]}"}
            assert Draft202012Validator(one).is_valid(event), (name, event)
            seen.add(event["type"])
    assert {
        ev.RUN_STARTED,
        ev.TEXT_DELTA,
        ev.TOOL_REQUESTED,
        ev.TOOL_APPROVAL,
        ev.TOOL_RESULT,
        ev.USAGE,
        ev.MODEL_CALL,
        ev.RUN_COMPLETED,
        ev.RUN_FAILED,
    } <= seen, seen
    decisions = {e["decision"] for e in turns["approval"] if e["type"] == ev.TOOL_APPROVAL}
    assert decisions == {"pending", "allowed"}
    nested = [e for e in turns["delegation"] if e.get("parent_run_id")]
    assert nested and all(e["depth"] == 1 for e in nested)
    assert {e["type"] for e in nested} >= {ev.RUN_STARTED, ev.TEXT_DELTA, ev.RUN_COMPLETED}
    assert turns["failure"][-1]["type"] == ev.RUN_FAILED
    assert turns["cancel"][-1]["type"] == ev.RUN_FAILED
    assert turns["cancel"][-1]["error"]["code"] == "cancelled"
    assert any(e["type"] == ev.TOOL_RESULT and e["ok"] for e in turns["tool"])


#: A value of a JSON type the field does not allow, by the types it allows.
_WRONG: tuple[Any, ...] = (12345, "text", True, [1], {"a": 1})


def _allowed(value: Any, types: list[str]) -> bool:
    kind = {bool: "boolean", str: "string", list: "array", dict: "object", int: "integer"}
    name = kind[type(value)]
    return name in types or (name == "integer" and "number" in types)


def _wrong_for(schema: dict[str, Any]) -> Any:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return next(v for v in _WRONG if not _allowed(v, types))


def test_a_missing_field_or_a_wrong_type_fails(turns: dict[str, list[dict[str, Any]]]) -> None:
    samples: dict[str, dict[str, Any]] = {}
    for events in turns.values():
        for event in events:
            samples.setdefault(event["type"], event)
    checked = 0
    for wire, event in samples.items():
        schema = SCHEMA["$defs"][type_names()[wire]]
        for field in schema["required"]:
            broken = {k: v for k, v in event.items() if k != field}
            assert not VALIDATOR.is_valid(broken), f"{wire} without {field} passed"
            checked += 1
        for field, value in event.items():
            prop = schema["properties"].get(field)
            if prop is None or "type" not in prop:
                continue
            broken = {**event, field: _wrong_for(prop)}
            assert not VALIDATOR.is_valid(broken), f"{wire} with a wrong {field}={value!r} passed"
            checked += 1
    assert checked > 50
    # An unknown type is no event of this schema; an unknown field is fine.
    text = samples[ev.TEXT_DELTA]
    assert not VALIDATOR.is_valid({**text, "type": "text.deltas"})
    assert VALIDATOR.is_valid({**text, "added_by_a_newer_server": 1})


def test_the_server_publishes_the_committed_schema(server: tuple[ServeProcess, str]) -> None:
    proc, _ = server
    r = httpx.get(proc.url + "/v1/schema/events", timeout=20)  # no key needed
    assert r.status_code == 200 and r.json() == SCHEMA
