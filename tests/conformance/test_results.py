"""The conformance run's bookkeeping, without the suite: reading the suite's
per-scenario folders, comparing with the expectations, and the elicitation
answer of the conformance client (a form submitted as muxi shows it)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from muxi_cli.mcpdev.conformance import form_as_shown, scenario_context
from tests.conftest import ROOT


def _results() -> ModuleType:
    path = ROOT / "scripts" / "conformance" / "results.py"
    spec = importlib.util.spec_from_file_location("conformance_results", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scenario(root: Path, folder: str, checks: list[dict[str, Any]]) -> None:
    path = root / folder
    path.mkdir(parents=True)
    (path / "checks.json").write_text(json.dumps(checks), encoding="utf-8")


def test_collect_reads_client_and_server_folders(tmp_path: Path) -> None:
    ok = {"id": "a", "status": "SUCCESS"}
    _scenario(tmp_path, "client/initialize-2026-12-07T02-41-15-279Z", [ok, {"status": "INFO"}])
    _scenario(
        tmp_path,
        "client/auth/metadata-var1-2026-12-07T02-41-15-279Z",
        [ok, {"id": "token-request", "status": "FAILURE", "errorMessage": "no token\nmore"}],
    )
    _scenario(tmp_path, "server/server-ping-2026-12-07T02-41-48-386Z", [ok])
    _scenario(tmp_path, "server/server-server-sse-polling-2026-12-07T02-41-48-386Z", [])
    got = _results().collect(tmp_path)
    assert got["client"]["initialize"]["ok"] is True
    assert got["client"]["auth/metadata-var1"] == {
        "passed": 1,
        "failed": 1,
        "warnings": 0,
        "ok": False,
        "failures": ["token-request: no token"],
    }
    assert got["server"]["ping"]["ok"] is True
    assert got["server"]["server-sse-polling"]["ok"] is False  # no check succeeded


def test_compare_names_regressions_new_passes_and_missing_scenarios() -> None:
    def result(ok: bool) -> dict[str, Any]:
        return {"ok": ok, "passed": int(ok), "failed": int(not ok), "failures": ["x: broke"]}

    expected = {
        "client": {"scenarios": ["a", "b", "c", "d"], "fail": {"b": "no OAuth", "c": "why"}},
    }
    results = {
        "client": {"a": result(False), "b": result(True), "c": result(False), "e": result(True)}
    }
    problems = _results().compare(results, expected)
    assert problems == [
        "client d: no result (the scenario did not run or timed out)",
        "client a: REGRESSION, it failed: x: broke",
        "client b: NEW PASS (expected to fail: no OAuth); remove it from the expected failures",
        "client e: a scenario the expectations do not list",
    ]
    assert (
        _results().compare({"client": {"a": result(True)}}, {"client": {"scenarios": ["a"]}}) == []
    )


def test_a_form_submitted_unchanged_carries_the_schema_defaults() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
            "verified": {"type": "boolean", "default": False},
            "nickname": {"type": "string"},
        },
    }
    assert form_as_shown(schema) == {
        "name": "John Doe",
        "age": 30,
        "score": 95.5,
        "status": "active",
        "verified": False,
    }


def test_scenario_context_is_the_suites_json_or_nothing() -> None:
    env = {"MCP_CONFORMANCE_CONTEXT": '{"client_id": "c", "client_secret": "s"}'}
    assert scenario_context(env) == {"client_id": "c", "client_secret": "s"}
    assert scenario_context({"MCP_CONFORMANCE_CONTEXT": "not json"}) == {}
    assert scenario_context({}) == {}
