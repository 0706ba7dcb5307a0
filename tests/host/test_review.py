"""Attacks and edge cases found in review: each test failed before its fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakellm import FakeLLM, Slow
from tests.host.support import host_env, muxi, ok, start, statuses
from tests.procs import stopping

pytestmark = pytest.mark.slow


def _until(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``cond`` (a file the host removes has no event to wait on)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("piped", ["", "piped notes"])
def test_a_turn_refused_by_a_draining_host_runs_in_process(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path, piped: str
) -> None:
    fake_llm.write_formation(tmp_path)
    start()
    [row] = statuses()
    sock = Path(row["socket"])
    fake_llm.script(Slow("one two three", delay=1.0, chunks=3))
    busy = subprocess.Popen(
        [sys.executable, "-m", "muxi_cli", "chat", "hi", "-o", "jsonl"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=host_env(),
    )
    with stopping(busy):
        assert busy.stdout is not None
        assert '"run.started"' in busy.stdout.readline()  # the host holds a turn: it drains
        # A client that found the socket just before the drain began: keep the
        # socket's inode under another name while the host removes its path.
        kept = sock.with_name("kept.sock")
        os.link(sock, kept)
        os.kill(row["pid"], signal.SIGTERM)
        _until(lambda: not sock.exists())
        os.rename(kept, sock)
        late = muxi("-v", "chat", "hello", "-o", "text", stdin=piped)
        assert late.returncode == 0, late.stderr
        assert late.stdout.strip() == "ok"
        assert "running in this process" in late.stderr.splitlines()[-1]
        assert busy.wait(30) == 0
    if piped:
        last = fake_llm.requests[-1]
        assert "piped notes" in str(last)


def test_what_an_mcp_server_or_the_local_user_id_reads_is_in_the_key() -> None:
    """The host's MCP servers inherit these (and the local user id comes from the
    login name): a host started under other values would act on stale ones."""
    from mcp.client.stdio import DEFAULT_INHERITED_ENV_VARS

    from muxi_cli.host import key as hkey
    from muxi_cli.tools.mcp_client import EXTRA_INHERITED_ENV

    login = ("LOGNAME", "USER", "LNAME", "USERNAME")  # getpass.getuser()
    inherited = set(EXTRA_INHERITED_ENV) | set(DEFAULT_INHERITED_ENV_VARS) | set(login)
    missing = sorted(n for n in inherited - {"TERM"} if not hkey.counts(n))
    assert missing == []
    base = {"HOME": "/h", "USER": "alice", "LOGNAME": "alice"}
    other = {**base, "USER": "bob", "LOGNAME": "bob"}
    assert hkey.host_key(None, cwd=Path("/w"), environ=base) != hkey.host_key(
        None, cwd=Path("/w"), environ=other
    )


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another uid")
def test_a_meta_naming_another_users_process_is_not_signalled(runtime_dir: Path) -> None:
    """A leftover meta whose pid now belongs to another user's process (even one
    whose command line looks like a host): `muxi host stop` run as root must not
    signal it, and `muxi host status` must not list it."""
    from muxi_cli.host.meta import Meta, write_meta

    hid = "0123456789abcdef"
    code = "import signal; print('up', flush=True); signal.pause()"
    other = subprocess.Popen(
        ["/usr/bin/python3", "-c", code, "muxi_cli.host.daemon", "--id", hid],
        stdout=subprocess.PIPE,
        text=True,
        user=65534,
        group=65534,
    )
    with stopping(other):
        assert other.stdout is not None and other.stdout.readline() == "up\n"
        meta = Meta(hid, "0" * 64, other.pid, "0", None, "/", 0.0, str(runtime_dir / "x.sock"), 600)
        write_meta(runtime_dir / f"{hid}.json", meta)
        assert statuses() == []
        write_meta(runtime_dir / f"{hid}.json", meta)
        assert "no host was running" in ok(muxi("host", "stop", "--all")).stderr
        assert other.poll() is None
        assert not (runtime_dir / f"{hid}.json").exists()  # a leftover: removed


def _model_request(fake_llm: FakeLLM, before: int) -> str:
    """The chat request(s) the model got since ``before``, volatile parts removed."""
    import json
    import re

    new = [r for r in fake_llm.requests[before:] if "messages" in r]
    text = json.dumps(new, sort_keys=True)
    return re.sub(r"\d{4}-\d\d-\d\d[T ][0-9:.+Z-]+", "T", text)


def test_per_call_settings_reach_the_model_as_in_process(fake_llm: FakeLLM, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    fake_llm.write_formation(project)
    (tmp_path / "notes.txt").write_text("the notes say 42\n")
    rel = ("--config", "proj/muxi.yaml")
    ok(muxi(*rel, "host", "start", cwd=tmp_path))
    cases: list[tuple[tuple[str, ...], str]] = [
        (("chat", "hi", "--system", "be brief"), ""),
        (("chat", "hi", "-m", "openai/other-model"), ""),
        (("chat", "hi", "--user", "bob", "-o", "json"), ""),
        (("chat", "summarise", "-A", "notes.txt"), ""),
        (("chat", "summarise"), "piped words"),
    ]
    for args, stdin in cases:
        seen = []
        for env in (host_env(MUXI_HOST="off"), host_env()):
            before = len(fake_llm.requests)
            proc = muxi("-v", *rel, *args, env=env, cwd=tmp_path, stdin=stdin)
            assert proc.returncode == 0, proc.stderr
            seen.append(_model_request(fake_llm, before))
        assert "running through the warm host" in proc.stderr
        assert seen[0] == seen[1], args


def test_a_host_gone_between_the_check_and_the_turn_means_in_process(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    """The client checked the host, then (while it read piped stdin) the host
    stopped: the turn's request cannot connect, so it runs in this process."""
    fake_llm.write_formation(tmp_path)
    start()
    client = subprocess.Popen(
        [sys.executable, "-m", "muxi_cli", "-v", "chat", "hi", "-o", "text"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=host_env(),
    )
    with stopping(client):
        assert client.stderr is not None
        assert "running through the warm host" in client.stderr.readline()
        assert "stopped 1 host(s)" in ok(muxi("host", "stop")).stderr
        out, err = client.communicate("piped words", timeout=60)
        assert client.returncode == 0, err
        assert out.strip() == "ok"
        assert "running in this process" in err
    assert "piped words" in str(fake_llm.requests[-1])


async def test_a_deleted_always_allow_entry_is_asked_again_by_a_running_manager(
    muxi_home: Path, tmp_path: Path
) -> None:
    """docs/tools.md: "Delete the entry to be asked again". A warm host keeps its
    ToolManager for many commands: it must see the settings file change."""
    import json

    from muxi_cli.config.schema import Formation
    from muxi_cli.paths import settings_path
    from muxi_cli.tools.host import ToolManager

    f = Formation.model_validate(
        {"agents": [{"name": "a", "tools": [{"python": "mytools:ping", "approval": "ask"}]}]}
    )
    (tmp_path / "mytools.py").write_text("def ping() -> str:\n    return 'pong'\n")
    manager = ToolManager(f, base_dir=tmp_path)
    [tool] = await manager.tools_for(f.agents[0])
    manager.remember_allow(tool)
    [allowed] = await manager.tools_for(f.agents[0])
    assert allowed.policy == "allow"
    settings_path().write_text(json.dumps({"always_allow": [], "theme": "nord"}))
    [again] = await manager.tools_for(f.agents[0])
    assert again.policy == "ask"
    settings_path().write_text(json.dumps({"always_allow": ["python/ping"]}) + "\n")
    [back] = await manager.tools_for(f.agents[0])
    assert back.policy == "allow"


def test_an_xdg_runtime_dir_others_can_write_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a folder others may write (and no sticky bit) another user can rename
    our ``muxi`` folder away and put their own in its place: not used."""
    from muxi_cli.host.paths import runtime_dir

    monkeypatch.delenv("MUXI_RUNTIME_DIR")
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    xdg.chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert runtime_dir() == Path(f"/tmp/muxi-{os.getuid()}")
    xdg.chmod(0o1777)  # sticky: only the owner may rename what is in it
    assert runtime_dir() == xdg / "muxi"


def test_an_edited_python_tool_module_retires_the_host(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    """A host imported the formation's Python tools once: an edit to one must not
    be served with the old code (in-process, every command imports it afresh)."""
    tools = "agents:\n  - name: a\n    tools:\n      - python: 'pkg.mytools:ping'\n"
    fake_llm.write_formation(tmp_path, extra=tools)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    module = tmp_path / "pkg" / "mytools.py"
    module.write_text("def ping() -> str:\n    '''Ping.'''\n    return 'pong'\n")
    start()
    warm = ok(muxi("-v", "agents", "list"))
    assert "running through the warm host" in warm.stderr
    module.write_text("def ping() -> str:\n    '''Ping.'''\n    return 'pong, edited'\n")
    after = ok(muxi("-v", "agents", "list"))
    assert "out of date" in after.stderr and "mytools.py" in after.stderr


def test_mcp_call_falls_back_when_the_hosts_socket_refuses(
    fake_llm: FakeLLM, tmp_path: Path, runtime_dir: Path
) -> None:
    """The host's socket path answers ECONNREFUSED (the host is exiting: nothing
    listens there any more): `muxi mcp call` runs the call here instead of failing."""
    import socket

    server = (
        f"mcp_servers:\n  time:\n    command: {sys.executable}\n    args: [-m, mcp_server_time]\n"
    )
    fake_llm.write_formation(tmp_path, extra=server)
    start()
    [row] = statuses()
    dead = runtime_dir / "dead.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(dead))  # bound, never listening: connect() is refused
    os.replace(dead, row["socket"])
    args = '{"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}'
    call = muxi("-v", "mcp", "call", "time", "convert_time", "--json", args, "-o", "json")
    assert call.returncode == 0, call.stderr
    assert "Asia/Tokyo" in call.stdout
