"""The local host's transport: a real LocalRuntime served on a Unix socket.

Turns (SSE and the interactive WebSocket) work over it unchanged, the socket
is private (0600, nothing on TCP), and another OS user cannot talk to it:
the directory stops it, and where the directory does not, the server's peer
credential check does.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from muxi_cli.errors import MuxiError
from muxi_cli.protocol import events as ev
from muxi_cli.protocol.records import ChatRequest
from muxi_cli.server.unixsock import bind_unix_socket
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.runtime.contract import collect
from tests.server.udsfixtures import UdsServed

NOBODY = 65534


async def test_a_chat_turn_streams_over_the_socket(
    uds_served: UdsServed, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Text("hello over the socket"))
    rt = uds_served.remote()
    try:
        assert (await rt.health()).mode == "remote"
        turn = await rt.chat(ChatRequest(message="hi"))
        events = await collect(turn)
        assert events[-1].type == ev.RUN_COMPLETED
        assert isinstance(events[-1], ev.RunCompleted)
        assert events[-1].text == "hello over the socket"
        messages = await rt.messages(turn.session_id)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert (await rt.whoami())["user_id"] == "alice"
    finally:
        await rt.aclose()


async def test_an_interactive_approval_turn_runs_over_the_websocket(
    uds_served: UdsServed, fake_llm: FakeLLM
) -> None:
    fake_llm.script(ToolCalls([("calculator", {"expression": "6*7"})]), Text("it is 42"))
    rt = uds_served.remote()
    try:
        turn = await rt.chat(ChatRequest(message="6*7?", approval="interactive"))

        async def on(event: ev.Event) -> None:
            if isinstance(event, ev.ToolApproval) and event.decision == "pending":
                await turn.approve(event.call_id, "allow")

        events = await collect(turn, on)
        assert rt._ws_turns.ws is not None  # the turn really ran on the WebSocket
        decisions = [e.decision for e in events if isinstance(e, ev.ToolApproval)]
        assert decisions == ["pending", "allowed"]
        assert isinstance(events[-1], ev.RunCompleted) and events[-1].text == "it is 42"
    finally:
        await rt.aclose()


async def test_the_socket_is_private_and_nothing_listens_on_tcp(uds_served: UdsServed) -> None:
    assert stat.S_IMODE(os.stat(uds_served.socket).st_mode) == 0o600
    assert uds_served.ports == [0]
    families = {s.family for srv in uds_served.server.servers for s in srv.sockets}
    assert families == {socket.AF_UNIX}


def test_a_socket_file_is_removed_only_while_it_is_ours(sock_dir: Path) -> None:
    path = sock_dir / "a.sock"
    sock, mine = bind_unix_socket(path)
    sock.close()
    assert mine.is_ours()
    # Deleted, and another process bound the same path at once (the inode number
    # is free for reuse): that socket is not ours and stays.
    os.unlink(path)
    assert not mine.is_ours()
    other, theirs = bind_unix_socket(path)
    try:
        assert not mine.is_ours() and theirs.is_ours()
        assert not mine.remove() and path.exists()
        assert theirs.remove() and not path.exists()
    finally:
        other.close()


async def test_shutdown_removes_the_socket_file(uds_served: UdsServed) -> None:
    assert uds_served.server.socket_file.is_ours()
    uds_served.server.should_exit = True
    while uds_served.socket.exists():  # noqa: ASYNC110 - the server's own shutdown, no event
        await asyncio.sleep(0.02)


def test_binding_refuses_a_file_and_a_live_socket_but_replaces_a_stale_one(
    sock_dir: Path,
) -> None:
    plain = sock_dir / "plain"
    plain.write_text("data")
    with pytest.raises(MuxiError, match="not a socket"):
        bind_unix_socket(plain)
    assert plain.read_text() == "data"

    path = sock_dir / "s.sock"
    live, _ = bind_unix_socket(path)
    try:
        with pytest.raises(MuxiError, match="already listening"):
            bind_unix_socket(path)
    finally:
        live.close()
    # Closed without removing its file (a crashed server): the next bind takes the path.
    fresh, ident = bind_unix_socket(path)
    fresh.close()
    assert ident.is_ours()
    ident.release()
    with pytest.raises(MuxiError, match="too long"):
        bind_unix_socket(sock_dir / ("x" * 120))


# -- another OS user ---------------------------------------------------------------

_HEALTH = b"GET /health HTTP/1.1\r\nhost: muxi-host\r\nconnection: close\r\n\r\n"


def _as_user(path: Path, uid: int | None) -> int:
    """Fork a child that connects to ``path`` (as ``uid``) and asks for /health.

    The child's exit code: 13 EACCES on connect, 10 closed without an answer,
    20 an HTTP answer, 30 anything else. Returns the code (call it in a thread:
    the server answers from the test's event loop meanwhile).
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 30
        try:
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect(str(path))
            except PermissionError:
                code = 13
            else:
                try:
                    s.sendall(_HEALTH)
                    code = 20 if s.recv(64).startswith(b"HTTP/1.1") else 10
                except (ConnectionResetError, BrokenPipeError):
                    code = 10
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching to another uid needs root (setuid)"
)


@needs_root
async def test_another_user_cannot_connect_through_the_private_directory(
    uds_served: UdsServed,
) -> None:
    assert stat.S_IMODE(os.stat(uds_served.socket.parent).st_mode) == 0o700
    assert await asyncio.to_thread(_as_user, uds_served.socket, NOBODY) == 13
    assert await asyncio.to_thread(_as_user, uds_served.socket, None) == 20  # we can


@needs_root
async def test_the_server_closes_a_connection_from_another_user(uds_served: UdsServed) -> None:
    # Open the directory and the socket to everyone: only the peer check is left.
    uds_served.socket.parent.chmod(0o777)
    uds_served.socket.chmod(0o666)
    try:
        assert await asyncio.to_thread(_as_user, uds_served.socket, NOBODY) == 10
        assert await asyncio.to_thread(_as_user, uds_served.socket, None) == 20
    finally:
        uds_served.socket.parent.chmod(0o700)
        uds_served.socket.chmod(0o600)
