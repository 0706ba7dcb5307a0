"""Fuzz the HTTP API from its own OpenAPI document (schemathesis): never a 5xx.

A real `muxi serve` (LocalRuntime over the fake LLM server) is fuzzed with an
admin key, a few dozen examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from muxi_cli.server.auth import KeyStore
from tests.fakellm import FakeLLM
from tests.runtime.contract import formation_yaml
from tests.server.serveproc import ServeProcess

ADMIN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    llm = FakeLLM()
    root = tmp_path_factory.mktemp("fuzz")
    config = root / "muxi.yaml"
    config.write_text(formation_yaml(llm), encoding="utf-8")
    _, key = KeyStore(root / "home" / "data" / "server_keys.json").create("admin", "admin")
    ADMIN["authorization"] = f"Bearer {key}"
    proc = ServeProcess(root / "home", config, args=("--rate", "0")).start()
    try:
        yield schemathesis.openapi.from_url(proc.url + "/openapi.json")
    finally:
        code = proc.stop()
        llm.close()
        assert code == 0, proc.log()
        assert "Traceback" not in proc.log(), proc.log()


schema = schemathesis.pytest.from_fixture("api_schema")


# Every operation runs as a subtest of this one item: several minutes on a loaded
# machine, so the suite's 120 s per-test limit would cut it off half way.
@pytest.mark.timeout(600)
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    headers = dict(ADMIN)
    response = case.call(headers=headers, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
