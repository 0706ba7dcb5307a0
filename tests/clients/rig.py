"""The contract rig: a fake model and a real ``muxi serve``, driven over loopback HTTP.

``python -m tests.clients.rig [--root DIR]`` (from the repository root, with
the dev environment's Python) is what both clients' contract runners start
(clients/contract/README.md): the Python one from a pytest fixture
(tests/clients/conftest.py), the TypeScript one from its Node test. Once
everything is ready it prints one JSON line on stdout::

    {"url": ..., "control": ..., "admin_key": ..., "api_version": "1.1"}

and answers ``POST /key``, ``/script``, ``/restart`` and ``/reset`` on the
control URL. It stops the server and the fake model when its stdin closes or
on SIGTERM/SIGINT. If the rig is killed outright, ``muxi serve`` gets SIGKILL
from the kernel (a parent-death signal set before it execs), so a crashed
runner leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from muxi_cli.errors import MuxiError
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Reply, Slow, Text, ToolCalls
from tests.runtime.contract import formation_yaml
from tests.server.serveproc import MUXI, ServeProcess

#: Small limits, so 413 and 429 are reachable in a few requests (README's table).
SERVE_ARGS = (
    "--max-body",
    "262144",
    "--max-upload-mb",
    "1",
    # One request a second refills a key's bucket: any client, however slow the
    # machine, spends a burst of 20 before it refills.
    "--rate",
    "1",
    "--burst",
    "20",
    # A restart with a turn in flight cancels it after 1 s instead of 10.
    "--grace",
    "1",
)

#: Runs in the child between fork and ``muxi serve``: SIGKILL when the rig dies.
#: The child checks its parent after ``prctl``, in case the rig died just before.
#: Linux only; elsewhere the rig's own shutdown is what stops the server.
_END_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def reply_of(spec: Any) -> Reply:
    """A README ReplySpec as the fake model's reply; ValueError when malformed."""
    if not isinstance(spec, dict):
        raise ValueError(f"a reply is an object, not {spec!r}")
    if "tool_calls" in spec:
        calls = spec["tool_calls"]
        if not isinstance(calls, list) or not calls:
            raise ValueError("tool_calls is a non-empty list")
        return ToolCalls([(str(c["name"]), dict(c.get("arguments") or {})) for c in calls])
    if not isinstance(spec.get("text"), str):
        raise ValueError(f"a reply has text or tool_calls: {spec!r}")
    chunks = spec.get("chunks")
    if chunks is not None and (not isinstance(chunks, int) or chunks < 1):
        raise ValueError("chunks is a positive integer")
    delay = float(spec.get("delay") or 0.0)
    if delay > 0:
        return Slow(spec["text"], delay=delay, chunks=chunks)
    return Text(spec["text"], chunks=chunks)


def rig_formation(llm: FakeLLM, oauth: str | None = None) -> str:
    """The Runtime contract's formation, its model marked as seeing images (the
    media scenario sends one; otherwise the server refuses the turn with 422).
    With ``oauth`` (the test OAuth server's base URL), its MCP server ``secure``
    is the agents' too (the clients' MCP login tests)."""
    import yaml

    formation = yaml.safe_load(formation_yaml(llm))
    for provider in formation["providers"].values():
        provider["capabilities"] = {"vision": True}
    if oauth is not None:
        formation["mcp_servers"] = {"secure": {"url": f"{oauth}/mcp", "approval": "allow"}}
        for agent in formation["agents"]:
            agent["mcp_servers"] = ["secure"]
    return str(yaml.safe_dump(formation, sort_keys=False))


class Rig:
    """The fake model, the key file and the server process; restarts run on the main thread."""

    def __init__(self, root: Path, oauth: str | None = None) -> None:
        self.root = root
        self.llm = FakeLLM()
        config = root / "muxi.yaml"
        config.write_text(rig_formation(self.llm, oauth), encoding="utf-8")
        home = root / "home"
        self.keys = KeyStore(home / "data" / "server_keys.json")
        # Created before the first start, so the server makes no keys of its own.
        _, self.admin_key = self.keys.create("admin", "admin", label="contract rig")
        self.server = ServeProcess(home, config, args=SERVE_ARGS)
        if sys.platform.startswith("linux"):
            self.server.command = [sys.executable, "-c", _END_WITH_PARENT, str(os.getpid())]
            self.server.command += [MUXI, "serve"]
        #: Work for the main thread: the thread that starts ``muxi serve`` is the
        #: one whose end sends the parent-death signal, so it must live as long as the rig.
        self.jobs: queue.Queue[tuple[str, Future[Any]]] = queue.Queue()

    def api_version(self) -> str:
        """What the server says it speaks (``Muxi-Api-Version``); 1.0 before the header."""
        import httpx

        answer = httpx.get(self.server.url + "/health", timeout=10.0)
        return answer.headers.get("muxi-api-version") or "1.0"

    def restart(self) -> dict[str, Any]:
        code = self.server.stop()
        if code != 0:
            print(f"rig: muxi serve exited with {code} on restart", file=sys.stderr)
        self.server.start()
        return {"url": self.server.url}

    def new_key(self, body: dict[str, Any]) -> dict[str, Any]:
        role = body.get("role") or "user"
        user = body.get("user") or ("admin" if role == "admin" else "alice")
        scopes = body.get("scopes")
        rec, key = self.keys.create(role, user, label=body.get("label"), scopes=scopes)
        return {"key": key, "key_id": rec.id}

    def close(self) -> None:
        try:
            self.server.stop()
        finally:
            self.llm.close()


def handler_for(rig: Rig) -> type[BaseHTTPRequestHandler]:
    class Control(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # the runner reads stdout; keep stderr for real trouble

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            try:
                size = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(size) if size else b""
                body = json.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError("the body is a JSON object")
                self._answer(200, self._route(body))
            except (
                ValueError,
                KeyError,
                TypeError,
                MuxiError,
            ) as exc:  # MuxiError: a bad key request
                self._answer(400, {"error": f"{type(exc).__name__}: {exc}"})
            except Exception as exc:  # the runner must see it, not a dropped connection
                self._answer(500, {"error": f"{type(exc).__name__}: {exc}"})

        def _route(self, body: dict[str, Any]) -> dict[str, Any]:
            if self.path == "/key":
                return rig.new_key(body)
            if self.path == "/script":
                replies = [reply_of(spec) for spec in body.get("replies") or []]
                rig.llm.script(*replies)
                return {"queued": len(replies)}
            if self.path == "/reset":
                rig.llm.reset()
                return {}
            if self.path == "/restart":
                done: Future[Any] = Future()
                rig.jobs.put(("restart", done))
                return dict(done.result(timeout=120))
            raise KeyError(f"no route {self.path}")

    return Control


def _watch_stdin(jobs: queue.Queue[tuple[str, Future[Any]]]) -> None:
    """Ask the main thread to stop once stdin closes (the runner went away)."""
    # The raw descriptor: a daemon thread blocked in sys.stdin's buffered reader
    # holds its lock, and the interpreter aborts on it at exit after a signal.
    fd = sys.stdin.fileno()
    while os.read(fd, 4096):
        pass
    jobs.put(("stop", Future()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.clients.rig")
    parser.add_argument("--root", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument(
        "--oauth",
        action="store_true",
        help="also run the test OAuth server; its MCP server 'secure' is the agents'",
    )
    opts = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        oauth = None
        if opts.oauth:
            from tests.tools.test_mcp_oauth import oauth_server  # deferred: only with --oauth

            oauth = stack.enter_context(oauth_server())
        return _run(opts.root, oauth)


def _run(given_root: Path | None, oauth: str | None) -> int:
    own_root = given_root is None
    root = Path(tempfile.mkdtemp(prefix="muxi-rig-")) if given_root is None else given_root
    root.mkdir(parents=True, exist_ok=True)

    rig = Rig(root, oauth)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()
        rig.jobs.put(("stop", Future()))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    control = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(rig))
    control.daemon_threads = True
    serving = False
    try:
        rig.server.start()
        threading.Thread(target=control.serve_forever, name="rig-control", daemon=True).start()
        serving = True
        threading.Thread(target=_watch_stdin, args=(rig.jobs,), daemon=True).start()
        line = {
            "url": rig.server.url,
            "control": f"http://127.0.0.1:{control.server_address[1]}",
            "admin_key": rig.admin_key,
            "api_version": rig.api_version(),
        }
        if oauth is not None:
            line["oauth"] = oauth
        print(json.dumps(line), flush=True)
        while not stopping.is_set():
            try:
                job, done = rig.jobs.get(timeout=0.5)
            except queue.Empty:
                continue
            if job == "stop":
                break
            try:
                done.set_result(rig.restart())
            except Exception as exc:
                done.set_exception(exc)
                print(f"rig: restart failed: {exc}", file=sys.stderr)
    finally:
        if serving:  # shutdown() waits for serve_forever, which must have started
            control.shutdown()
        control.server_close()
        rig.close()
        if own_root:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
