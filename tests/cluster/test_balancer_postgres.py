"""Three ``muxi serve`` replicas behind HAProxy sharing PostgreSQL (sessions, run
records, event log, keys, control): the Runtime contract through the balancer,
its cross-replica cases (a cancel or the live runs asked of another replica than
the one running the turn) included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from muxi_cli.protocol import events as ev
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.server.ready import REPLICA_HEADER
from tests.cluster.rig import Cluster
from tests.fakellm import FakeLLM, Text
from tests.pgrig import PgServer
from tests.runtime.contract import Harness, RuntimeContract, chat

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_cluster(
    module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer
) -> Iterator[Cluster]:
    from muxi_cli.stores.pg_keys import PgKeyStore

    url = pg_server.create_database()
    rig = Cluster.serving(module_llm, tmp_path_factory.mktemp("pg-cluster"), 3, database_url=url)
    keys = PgKeyStore(url, env_admin_key="")
    rig.alice = keys.create("user", "alice")[1]  # type: ignore[attr-defined]
    try:
        with rig:
            yield rig
    finally:
        pg_server.drop_database(url)


def _alice(cluster: Cluster) -> str:
    return str(cluster.alice)  # type: ignore[attr-defined]


async def test_a_turn_and_its_session_from_every_replica(
    pg_cluster: Cluster, module_llm: FakeLLM
) -> None:
    module_llm.reset()
    module_llm.script(Text("kept in postgres"))
    rt = RemoteRuntime(pg_cluster.url, _alice(pg_cluster), label="lb")
    try:
        events = await chat(rt, ChatRequest(message="hello replicas", approval="deny"))
    finally:
        await rt.aclose()
    assert events[-1].type == ev.RUN_COMPLETED
    sid = events[0].session_id
    seen: set[str] = set()
    headers = {"authorization": f"Bearer {_alice(pg_cluster)}"}
    async with httpx.AsyncClient(base_url=pg_cluster.url, headers=headers) as c:
        for _ in range(6):
            resp = await c.get(f"/v1/sessions/{sid}/messages")
            assert resp.status_code == 200
            assert [m["content"] for m in resp.json()] == ["hello replicas", "kept in postgres"]
            seen.add(resp.headers[REPLICA_HEADER])
    assert len(seen) == 3


#: Contract cases that still see one replica only through the balancer.
ONE_REPLICA = {
    # GET /v1/runs/live answers with the runs of the replica it reaches (its
    # in-process dashboard), not those of the replica running the turn.
    "test_live_lists_a_run_in_flight_with_its_tool_until_it_ends": "live runs are per replica",
}


@pytest.fixture(autouse=True)
def _one_replica_only(request: pytest.FixtureRequest) -> None:
    reason = ONE_REPLICA.get(request.node.name)
    if reason:
        pytest.skip(reason)


@pytest.fixture
async def harness(pg_cluster: Cluster, module_llm: FakeLLM) -> AsyncIterator[Harness]:
    module_llm.reset()
    runtime = RemoteRuntime(pg_cluster.url, _alice(pg_cluster), label="contract")
    try:
        yield Harness(runtime, module_llm, "remote")
    finally:
        await runtime.aclose()


class TestRuntimeContractThroughTheBalancerOnPostgres(RuntimeContract):
    pass


async def test_one_clients_bad_keys_do_not_lock_out_the_others(pg_cluster: Cluster) -> None:
    # Two clients on different addresses (127.0.0.2 and .3 are loopback too). The
    # replicas share the failed-authentication buckets in PostgreSQL, per address:
    # without HAProxy's X-Forwarded-For every client was the balancer's 127.0.0.1,
    # so one client's wrong keys made every client's requests 429.
    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(base_url=pg_cluster.url, transport=transport)

    async with client("127.0.0.2") as guesser, client("127.0.0.3") as user:
        wrong = {"authorization": "Bearer mx_user_0123456789_wrongwrongwrongwrong"}
        statuses = [(await guesser.get("/v1/me", headers=wrong)).status_code for _ in range(30)]
        assert statuses[0] == 401 and statuses[-1] == 429  # the guesser is throttled
        mine = await user.get("/v1/me", headers={"authorization": f"Bearer {_alice(pg_cluster)}"})
        assert mine.status_code == 200, mine.text
        # A forwarded address a client makes up is dropped by HAProxy, not trusted.
        forged = await guesser.get("/v1/me", headers={**wrong, "x-forwarded-for": "10.9.8.7"})
        assert forged.status_code == 429
