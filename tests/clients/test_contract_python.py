"""The client contract scenarios (clients/contract/scenarios.json), played by the Python client.

One case per scenario, against the rig's real ``muxi serve`` (tests/clients/rig.py);
the TypeScript client plays the same file (clients/typescript/test/).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.clients.matching import ScenarioFailed, mismatch, resolve, subsequence
from tests.clients.scenarios import RigInfo, Runner, load

pytest.importorskip("muxi_cli.client", reason="the Python client (muxi_cli.client)")

SCENARIOS = {s["name"]: s for s in load()}

pytestmark = pytest.mark.slow


@pytest.fixture
async def runner(rig: RigInfo) -> AsyncIterator[Runner]:
    async with httpx.AsyncClient() as control:
        yield Runner(rig, control)


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_scenario(runner: Runner, name: str) -> None:
    try:
        await runner.run(SCENARIOS[name])
    except ScenarioFailed as exc:
        raise ScenarioFailed(
            f"{exc}\n--- muxi serve's log (end) ---\n{runner.rig.server_log()}"
        ) from None


def test_every_scenario_names_its_transport_and_uses_its_own_keys() -> None:
    """What the README asks of each scenario, checked on the data itself."""
    users: dict[str, str] = {}
    for name, scenario in SCENARIOS.items():
        for step in scenario["steps"]:
            if step["do"] == "chat":
                assert step["transport"] in ("sse", "ws"), name
            if step["do"] == "key":
                assert step["user"] not in users, (name, users.get(step["user"]))
                users[step["user"]] = name


def test_matchers_hold_and_fail_as_the_readme_says() -> None:
    assert mismatch({"a": 1, "b": [1, 2]}, {"a": 1.0}) is None
    assert mismatch({"a": 1}, {"a": True}) is not None  # booleans are not numbers
    assert mismatch([1, 2], [1]) is not None  # lists match whole
    assert mismatch("one two", {"$startswith": "one", "$ne": "one"}) is None
    assert mismatch("one", {"$startswith": "one", "$ne": "one"}) is not None
    assert mismatch([{"id": "x", "n": 1}], {"$contains": {"id": "x"}}) is None
    assert mismatch([], {"$contains": {"id": "x"}}) is not None
    assert mismatch(None, {"$type": "object"}) is not None
    assert mismatch(2, {"$gt": 1, "$in": [2, 3]}) is None
    assert mismatch("2", {"$gt": 1}) is not None
    types = ["run.started", "text.delta", "usage", "run.completed"]
    assert subsequence(types, ["run.started", "usage"]) is None
    assert subsequence(types, ["usage", "run.started"]) is not None


def test_references_and_value_forms() -> None:
    scope = {"t1": {"session_id": "s_1", "ids": ["a", "b"]}, "png": "aGk="}
    assert resolve("${t1.session_id}", scope) == "s_1"
    assert resolve("id ${t1.ids.1}!", scope) == "id b!"
    assert resolve({"$base64": "${png}"}, scope) == b"hi"
    assert resolve({"m": {"$fill": 3}, "x": {"$gt": 0}}, scope) == {"m": "xxx", "x": {"$gt": 0}}
    with pytest.raises(ScenarioFailed):
        resolve("${t2.session_id}", scope)
    with pytest.raises(ScenarioFailed):
        resolve("${t1.nope}", scope)
