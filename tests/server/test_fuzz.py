"""Fuzz the HTTP API from its own OpenAPI document (schemathesis): never a 5xx.

A real `muxi serve` (LocalRuntime over the fake LLM server, with the demo MCP
server attached to its agent) is fuzzed with an admin key and with a user key,
a dozen examples per operation each. ``MUXI_FUZZ_EXAMPLES`` raises the count.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.runtime.contract import formation_yaml
from tests.server.serveproc import ServeProcess

KEYS: dict[str, dict[str, str]] = {}
DEMO = Path(__file__).resolve().parent.parent / "mcp_servers" / "demo_server.py"
MCP = (
    "mcp_servers:\n  demo:\n"
    f"    command: {json.dumps(sys.executable)}\n    args: [{json.dumps(str(DEMO))}]\n"
)
EXAMPLES = int(os.environ.get("MUXI_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    llm = FakeLLM()
    root = tmp_path_factory.mktemp("fuzz")
    config = root / "muxi.yaml"
    text = formation_yaml(llm).replace("agents:\n", MCP + "agents:\n", 1)
    config.write_text(text.replace("tools:\n", "mcp_servers: [demo]\n    tools:\n", 1))
    keys = KeyStore(root / "home" / "data" / "server_keys.json")
    for role, user in (("admin", "admin"), ("user", "fuzzer")):
        KEYS[role] = {"authorization": f"Bearer {keys.create(role, user)[1]}"}
    proc = ServeProcess(root / "home", config, args=("--rate", "0")).start()
    try:
        yield schemathesis.openapi.from_url(proc.url + "/openapi.json")
    finally:
        code = proc.stop()
        llm.close()
        assert code == 0, proc.log()
        assert "Traceback" not in proc.log(), proc.log()


schema = schemathesis.pytest.from_fixture("api_schema")


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


# Every operation runs as a subtest of one item: several minutes on a loaded
# machine, so the suite's 120 s per-test limit would cut it off half way.
@pytest.mark.timeout(600)
@schema.parametrize()
@FUZZ
def test_no_server_errors_with_an_admin_key(case: schemathesis.Case) -> None:
    response = case.call(headers=dict(KEYS["admin"]), timeout=30)
    case.validate_response(response, checks=[not_a_server_error])


@pytest.mark.timeout(600)
@schema.parametrize()
@FUZZ
def test_no_server_errors_with_a_user_key(case: schemathesis.Case) -> None:
    response = case.call(headers=dict(KEYS["user"]), timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
