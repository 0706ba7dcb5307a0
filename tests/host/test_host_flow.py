"""Real hosts in their own processes: first call, warm calls, staleness, stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM
from tests.host.support import daemon_pids, host_env, muxi, ok, start, statuses, wait_exit

pytestmark = pytest.mark.slow


def test_first_call_in_process_then_through_the_host(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    fake_llm.write_formation(tmp_path)
    first = ok(muxi("-v", "chat", "hi", "-o", "text"))
    assert first.stdout.strip() == "ok"
    assert "running in this process" in first.stderr
    hid = start()  # the host the first call started in the background (or a new one)
    assert len(daemon_pids(runtime_dir)) == 1
    second = ok(muxi("-v", "chat", "again", "-o", "text"))
    assert second.stdout.strip() == "ok"
    assert "running through the warm host" in second.stderr
    log = ok(muxi("host", "logs")).stdout
    assert "turn 1 started" in log and hid in log
    [row] = statuses()
    assert row["id"] == hid and row["formation"] == str((tmp_path / "muxi.yaml").resolve())
    assert row["rss_bytes"] > 10_000_000 and row["mcp_servers"] == []
    assert row["idle_timeout_s"] == 600
    # the host acts as the local user: both sessions are this user's
    listed = json.loads(ok(muxi("sessions", "list", "--json")).stdout)
    assert len(listed) == 2
    assert ok(muxi("host", "stop")).stderr.strip() == "stopped 1 host(s)"
    assert daemon_pids(runtime_dir) == [] and statuses() == []
    assert sorted(p.suffix for p in runtime_dir.iterdir()) == [".lock", ".log"]


def test_a_formation_edit_starts_a_new_host_and_the_old_one_exits(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    path = fake_llm.write_formation(tmp_path)
    start()
    [old] = statuses()
    path.write_text(path.read_text() + "\nname: edited\n")
    # the host notices by itself (it checks its sources every 2 s); a client notices at once
    third = ok(muxi("-v", "chat", "hi", "-o", "text"))
    assert "out of date" in third.stderr and "running in this process" in third.stderr
    assert wait_exit(old["pid"])
    start()
    [new] = statuses()
    assert new["pid"] != old["pid"] and daemon_pids(runtime_dir) == [new["pid"]]


def test_an_agent_file_edit_retires_the_host(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    (tmp_path / "helper.yaml").write_text("name: helper\ndescription: helps\n")
    fake_llm.write_formation(tmp_path, extra="agents:\n  helper: helper.yaml\n")
    start()
    [old] = statuses()
    (tmp_path / "helper.yaml").write_text("name: helper\ndescription: helps more\n")
    assert wait_exit(old["pid"])  # the host saw its agent file change
    out = ok(muxi("-v", "chat", "hi", "-o", "text"))
    assert "no warm host" in out.stderr


def test_a_referenced_variable_that_changes_or_goes_is_not_reused(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    text = fake_llm.formation_yaml().replace(fake_llm.openai_base_url, "${FAKE_URL}")
    (tmp_path / "muxi.yaml").write_text(text)
    env = host_env(FAKE_URL=fake_llm.openai_base_url)
    start(env)
    [old] = statuses(env)
    assert "running through" in ok(muxi("-v", "chat", "hi", env=env)).stderr
    changed = host_env(FAKE_URL=fake_llm.openai_base_url + "/")
    out = ok(muxi("-v", "chat", "hi", "-o", "text", env=changed))
    assert "out of date" in out.stderr
    assert wait_exit(old["pid"])  # told to drain
    start(changed)
    [new] = statuses(changed)
    gone = {k: v for k, v in host_env().items() if k != "FAKE_URL"}
    out = muxi("-v", "chat", "hi", "-o", "text", env=gone)
    assert out.returncode == 2 and "FAKE_URL" in out.stderr  # in-process: the loader's error
    assert "out of date" in out.stderr and wait_exit(new["pid"])


def test_a_provider_variable_is_part_of_the_key(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    fake_llm.write_formation(tmp_path)
    start(host_env(OPENAI_BASE_URL="http://127.0.0.1:9/v1"))
    out = ok(muxi("-v", "chat", "hi", "-o", "text"))  # OPENAI_BASE_URL unset here
    assert "no warm host" in out.stderr


def test_a_deleted_socket_stops_the_host_without_a_duplicate(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    fake_llm.write_formation(tmp_path)
    start()
    [old] = statuses()
    Path(old["socket"]).unlink()
    out = ok(muxi("-v", "chat", "hi", "-o", "text"))
    assert "running in this process" in out.stderr
    assert wait_exit(old["pid"])
    start()
    [new] = statuses()
    assert daemon_pids(runtime_dir) == [new["pid"]] != [old["pid"]]


def test_the_host_exits_when_its_folder_goes(fake_llm: FakeLLM, tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "proj"
    project.mkdir()
    fake_llm.write_formation(project)
    start(cwd=project)
    [row] = statuses()
    shutil.rmtree(project)
    assert wait_exit(row["pid"])


def test_idle_timeout(fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path) -> None:
    fake_llm.write_formation(tmp_path)
    env = host_env(MUXI_HOST_IDLE="1")
    start(env)
    [row] = statuses(env)
    assert row["idle_timeout_s"] == 1
    assert wait_exit(row["pid"], timeout=20)
    assert "idle for" in (runtime_dir / f"{row['id']}.log").read_text()
    assert not (runtime_dir / f"{row['id']}.json").exists()


def test_eight_parallel_clients_share_one_host(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    import subprocess
    import sys

    fake_llm.write_formation(tmp_path)

    def burst() -> list[subprocess.CompletedProcess[str]]:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "muxi_cli", "chat", f"hi {i}", "-o", "text"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=host_env(),
            )
            for i in range(8)
        ]
        done = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
        return done

    for proc in burst():  # cold: all in-process, one host started between them
        assert ok(proc).stdout.strip() == "ok"
    start()
    assert len(daemon_pids(runtime_dir)) == 1
    for proc in burst():  # warm: all through the one host
        assert ok(proc).stdout.strip() == "ok"
    assert len(daemon_pids(runtime_dir)) == 1
    [row] = statuses()
    log = (runtime_dir / f"{row['id']}.log").read_text()
    assert "turn 8 started" in log


@pytest.mark.parametrize("how", ["env", "formation"])
def test_switched_off_never_starts_a_host(
    how: str, fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    if how == "env":
        fake_llm.write_formation(tmp_path)
        env = host_env(MUXI_HOST="off")
    else:
        fake_llm.write_formation(tmp_path, extra="host:\n  enabled: false\n")
        env = host_env()
    out = ok(muxi("-v", "chat", "hi", "-o", "text", env=env))
    assert out.stdout.strip() == "ok" and "host" not in out.stderr
    assert daemon_pids(runtime_dir) == [] and not list(runtime_dir.glob("*.json"))
    refused = muxi("host", "start", env=env)
    assert refused.returncode == 1 and "off" in refused.stderr


def test_stop_lets_a_running_turn_finish(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    import subprocess
    import sys

    from tests.fakellm import Slow
    from tests.procs import stopping

    fake_llm.write_formation(tmp_path)
    start()
    fake_llm.script(Slow("one two three", delay=0.4, chunks=3))
    client = subprocess.Popen(
        [sys.executable, "-m", "muxi_cli", "chat", "hi", "-o", "jsonl"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=host_env(),
    )
    with stopping(client):
        assert client.stdout is not None
        assert '"run.started"' in client.stdout.readline()  # the turn runs in the host
        stopped = ok(muxi("host", "stop"))  # waits until the host has drained and exited
        assert "stopped 1 host(s)" in stopped.stderr
        rest = client.stdout.read()
        assert client.wait(30) == 0
    assert '"run.completed"' in rest and "three" in rest
    assert daemon_pids(runtime_dir) == []
    logs = ok(muxi("host", "logs", "-n", "2")).stdout.strip().splitlines()
    assert len(logs) == 2 and "stopped" in logs[-1]


def test_stop_all_and_a_key_change(fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path) -> None:
    fake_llm.write_formation(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    fake_llm.write_formation(other)
    start()
    start(cwd=other)
    assert len(statuses()) == 2
    assert "stopped 1 host(s)" in ok(muxi("host", "stop", cwd=other)).stderr
    [left] = statuses()
    # a stored provider key changes what hosts would do: they stop
    ok(muxi("keys", "set", "openai", stdin="sk-another-key-0123456789\n"))
    assert wait_exit(left["pid"])
    start()
    start(cwd=other)
    assert "stopped 2 host(s)" in ok(muxi("host", "stop", "--all", cwd=other)).stderr
    assert statuses() == [] and daemon_pids(runtime_dir) == []


def test_a_host_that_cannot_start_leaves_a_marker_and_a_clear_error(
    tmp_path: Path, runtime_dir: Path
) -> None:
    from muxi_cli.host import client

    path = tmp_path / "muxi.yaml"
    path.write_text("agents: 3\n")  # fails in the host as it fails in-process
    failing = muxi("host", "start")
    assert failing.returncode == 1 and "failed to start" in failing.stderr
    assert "agents" in failing.stderr  # the loader's message, from the log's tail
    [marker] = runtime_dir.glob("*.failed")
    target = client._target(None)
    assert target.files.failed == marker and client._recently_failed(target)
    path.write_text("name: fixed\n")
    import os

    os.utime(path, (marker.stat().st_mtime + 1, marker.stat().st_mtime + 1))
    assert not client._recently_failed(target)  # the formation changed: try again
