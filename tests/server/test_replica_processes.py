"""Two real ``muxi serve`` processes sharing one PostgreSQL database (no load balancer):
a stop sent to the one not running the turn stops it, a key revoked through one is
refused by the other."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from muxi_cli.stores.pg_keys import PgKeyStore
from tests.fakellm import FakeLLM, Slow
from tests.server.serveproc import MUXI, ServeProcess, server_env

SSE = {"accept": "text/event-stream"}


@contextlib.asynccontextmanager
async def two_replicas(
    tmp_path: Path, config: Path, env: dict[str, str]
) -> AsyncIterator[tuple[ServeProcess, ServeProcess]]:
    """Two `muxi serve` processes started side by side, both stopped however the test ends."""
    a, b = (ServeProcess(tmp_path / n, config, args=("--rate", "0"), **env) for n in "ab")
    try:
        started = await asyncio.gather(
            asyncio.to_thread(a.start), asyncio.to_thread(b.start), return_exceptions=True
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        yield a, b
    finally:
        a.stop()
        b.stop()


async def test_two_processes_share_control(fake_llm: FakeLLM, tmp_path: Path, pg_url: str) -> None:
    keys = PgKeyStore(pg_url, env_admin_key="")
    admin_rec, admin = keys.create("admin", "admin")
    alice_rec, alice = keys.create("user", "alice")
    keys.close()
    config = fake_llm.write_formation(tmp_path)
    fake_llm.script(Slow(" ".join(["word"] * 200), delay=0.05, chunks=200))
    env = {"MUXI_DATABASE_URL": pg_url}
    async with two_replicas(tmp_path, config, env) as (a, b):
        assert "first start" not in a.log() + b.log()  # the keys were in the database
        as_alice = {"authorization": f"Bearer {alice}"}
        async with (
            httpx.AsyncClient(base_url=a.url, timeout=30) as ca,
            httpx.AsyncClient(base_url=b.url, timeout=30) as cb,
        ):
            events = []
            async with ca.stream(
                "POST", "/v1/chat", json={"message": "talk"}, headers={**as_alice, **SSE}
            ) as resp:
                run_id = resp.headers["x-muxi-run-id"]
                lines = resp.aiter_lines()
                async for line in lines:
                    if line[:6] != "data: ":
                        continue
                    events.append(json.loads(line[6:]))
                    if events[-1]["type"] == "text.delta" and len(events) < 50:
                        r = await cb.post(f"/v1/runs/{run_id}/cancel", headers=as_alice)
                        assert r.status_code == 202, r.text
                        break
                rest = [json.loads(x[6:]) async for x in lines if x[:6] == "data: "]
            assert rest[-1]["type"] == "run.failed" and rest[-1]["error"]["code"] == "cancelled"

            as_admin = {"authorization": f"Bearer {admin}"}
            r = await cb.delete(f"/v1/keys/{alice_rec.id}", headers=as_admin)
            assert r.status_code == 200 and admin_rec.id
            assert (await ca.get("/v1/me", headers=as_alice)).status_code == 401

            # `muxi keys` on another machine with the URL administers the same keys.
            admin_env = server_env(tmp_path / "c", MUXI_DATABASE_URL=pg_url)
            made = _muxi(admin_env, "keys", "create", "--role", "user", "--user", "carol")
            carol = {"authorization": f"Bearer {made.stdout.strip()}"}
            r = await ca.get("/v1/me", headers=carol)
            assert r.status_code == 200 and r.json()["user_id"] == "carol"
            _muxi(admin_env, "keys", "revoke", r.json()["key_id"])
            assert (await cb.get("/v1/me", headers=carol)).status_code == 401


def _muxi(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([MUXI, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


async def test_a_killed_replica_is_reaped_and_the_other_serves_on(
    fake_llm: FakeLLM, tmp_path: Path, pg_url: str
) -> None:
    keys = PgKeyStore(pg_url, env_admin_key="")
    _, alice = keys.create("user", "alice")
    config = fake_llm.write_formation(tmp_path)
    fake_llm.script(Slow(" ".join(["word"] * 400), delay=0.05, chunks=400))
    env = {"MUXI_DATABASE_URL": pg_url, "MUXI_REPLICA_HEARTBEAT": "0.5"}
    as_alice = {"authorization": f"Bearer {alice}"}
    try:
        async with two_replicas(tmp_path, config, env) as (a, b):
            async with (
                httpx.AsyncClient(base_url=a.url, timeout=30) as ca,
                ca.stream(
                    "POST", "/v1/chat", json={"message": "talk"}, headers={**as_alice, **SSE}
                ) as resp,
            ):
                run_id = resp.headers["x-muxi-run-id"]
                async for line in resp.aiter_lines():
                    if '"text.delta"' in line:
                        break
                assert keys._link.execute("SELECT run_id FROM live_runs") == [(run_id,)]
                assert a.proc is not None
                a.proc.kill()  # SIGKILL: no goodbye, its rows stay behind
                a.proc.wait(10)
            # B notices within a few of A's heartbeats and claims A's turn.
            for _ in range(200):  # 4 beats of 0.5 s, then B's next beat
                if not keys._link.execute("SELECT run_id FROM live_runs"):
                    break
                await asyncio.sleep(0.05)
            assert keys._link.execute("SELECT run_id FROM live_runs") == []
            assert len(keys._link.execute("SELECT id FROM replicas")) == 1
            async with httpx.AsyncClient(base_url=b.url, timeout=30) as cb:
                r = await cb.post(f"/v1/runs/{run_id}/cancel", headers=as_alice)
                assert r.status_code == 404  # gone with its replica, not a timeout
                fake_llm.script(Slow("still here", delay=0.0))
                r = await cb.post(
                    "/v1/chat", json={"message": "hi", "stream": False}, headers=as_alice
                )
                assert r.status_code == 200 and r.json()["reply"] == "still here", r.text
            assert "turn(s) of a lost replica failed" in b.log()
    finally:
        keys.close()
