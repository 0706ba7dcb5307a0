"""A muxi cluster on loopback: N ``muxi serve`` replicas behind HAProxy.

``Cluster(root, config, replicas=3)`` starts the replicas on free loopback
ports, all serving the same formation from one shared data folder (one
``MUXI_HOME``: the sessions database, the key file, the memory store), with
``MUXI_DATABASE_URL`` passed on when ``database_url`` is given; then HAProxy
(from the OS packages, ``scripts/os-packages``) round-robin over them with
health checks on ``/ready``. It counts as started once HAProxy's own stats
say every replica is UP after a passed check (never sleep-and-hope). Use it as
a context manager, or a fixture's ``with``: everything it started is stopped
however the block ends (HAProxy first, then each replica with SIGTERM).

``cluster.url`` is the balancer; ``cluster.replicas[i]`` each
:class:`~tests.server.serveproc.ServeProcess`; ``cluster.states()`` HAProxy's
view of each replica (``UP``, ``DOWN``, ...); ``cluster.wait_states`` waits
for a given view; ``cluster.restart(i)`` rolls one replica (stop, start, UP
again). Every answer names the replica that sent it in ``X-Muxi-Replica``.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from muxi_cli.stores.server_keys import KeyStore
from tests.net import free_port, wait_listening
from tests.procs import stop
from tests.runtime.contract import formation_yaml
from tests.server.serveproc import ServeProcess

if TYPE_CHECKING:
    from tests.fakellm import FakeLLM

#: How often HAProxy checks each replica's ``/ready`` (ms), and how many checks
#: flip its state: quick, so tests of draining and failures stay short.
CHECK_INTER_MS = 250
RISE = 1
FALL = 2

HAPROXY_CFG = """\
global
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    timeout http-request 10s
    # A /ready check's answer under load (its own checks have 3 s each); without
    # it the check times out after "inter", and a busy replica flaps DOWN.
    timeout check 4s
    # One request per server-side connection: a replica closing an idle
    # keep-alive connection can never make HAProxy answer 502.
    option http-server-close
    # Streams: forward each event at once (no MSG_MORE / Nagle batching).
    option http-no-delay
    # A request refused before anything happened (connection refused, or 503
    # from a draining replica HAProxy has not taken out yet) goes to another one.
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response 503
    # A request can be sent again only if HAProxy still holds its body.
    option http-buffer-request

frontend muxi
    bind 127.0.0.1:{port}
    # The client's own address for the replicas' per-address limits (failed
    # keys): whatever X-Forwarded-For a client sent is dropped, then HAProxy
    # sets its own. Without it every client is the balancer's one address, and
    # one client's bad keys lock all of them out.
    http-request del-header X-Forwarded-For
    option forwardfor
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms rise {rise} fall {fall}
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None
    )
    if found is None:
        raise RuntimeError("haproxy is not installed: run scripts/os-packages (apt-get haproxy)")
    return found


class Cluster:
    def __init__(
        self,
        root: Path,
        config: Path,
        replicas: int = 3,
        *,
        database_url: str | None = None,
        args: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        self.root = root
        self.home = root / "home"
        self.config = config
        if database_url:
            env["MUXI_DATABASE_URL"] = database_url
        self.replicas = [ServeProcess(self.home, config, args=args, **env) for _ in range(replicas)]
        self.port = free_port()
        self.stats_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cfg_path = root / "haproxy.cfg"
        self.log_path = root / "haproxy.log"
        self.haproxy: subprocess.Popen[bytes] | None = None

    @classmethod
    def serving(cls, llm: FakeLLM, root: Path, replicas: int = 3, **kwargs: Any) -> Cluster:
        """Replicas in ``root`` serving the Runtime contract's formation on ``llm``
        (not started: ``with`` starts them)."""
        config = root / "muxi.yaml"
        config.write_text(formation_yaml(llm), encoding="utf-8")
        return cls(root, config, replicas, **kwargs)

    # ------------------------------------------------------------------ keys

    def create_key(self, role: str, user_id: str) -> str:
        """A key every replica accepts (the shared key file); call before start()
        or at any time: the replicas re-read the file when it changes."""
        _, secret = KeyStore(self.home / "data" / "server_keys.json").create(role, user_id)
        return secret

    # ------------------------------------------------------------------ start and stop

    def start(self, timeout: float = 90.0) -> Cluster:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # Replicas start at once (each waits for its own /health and log line).
            with ThreadPoolExecutor(len(self.replicas)) as pool:
                list(pool.map(lambda r: r.start(timeout), self.replicas))
            self._start_haproxy()
            self.wait_states(lambda states: all(s == "UP" for s in states.values()), timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_haproxy(self) -> None:
        servers = "\n".join(
            f"    server r{i} 127.0.0.1:{r.port} check" for i, r in enumerate(self.replicas)
        )
        self.cfg_path.write_text(
            HAPROXY_CFG.format(
                port=self.port, stats_port=self.stats_port, servers=servers,
                inter=CHECK_INTER_MS, rise=RISE, fall=FALL,
            ),
            encoding="utf-8",
        )  # fmt: skip
        binary = haproxy_binary()
        check = subprocess.run([binary, "-c", "-f", str(self.cfg_path)], capture_output=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its config: {check.stderr.decode()[-2000:]}")
        with open(self.log_path, "wb") as log:
            self.haproxy = subprocess.Popen(
                [binary, "-db", "-f", str(self.cfg_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_listening(self.port, self.haproxy)
        wait_listening(self.stats_port, self.haproxy)

    def stop(self) -> None:
        """HAProxy first (no new requests), then every replica; idempotent."""
        if self.haproxy is not None:
            stop(self.haproxy)
            self.haproxy = None
        with ThreadPoolExecutor(max(1, len(self.replicas))) as pool:
            list(pool.map(lambda r: r.stop(), self.replicas))

    def restart(self, i: int, timeout: float = 60.0) -> int:
        """Roll replica ``i``: SIGTERM (it drains), wait for it to exit and for
        HAProxy to see it DOWN, start it again on the same port, and wait until
        HAProxy has it UP after a passed check. Returns the old process's exit status."""
        replica, name = self.replicas[i], f"r{i}"
        status = replica.stop(timeout)
        self.wait_states(lambda states: states[name] == "DOWN", timeout)
        replica.start(timeout)
        self.wait_states(lambda states: states[name] == "UP", timeout)
        return status

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ HAProxy's view

    def states(self) -> dict[str, str]:
        """Each replica's state as HAProxy sees it (``r0``: ``UP``, ...), once a
        check has run (before that a server shows as UP without having been asked)."""
        resp = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5.0)
        resp.raise_for_status()
        rows = csv.DictReader(io.StringIO(resp.text.lstrip("# ")))
        return {
            row["svname"]: row["status"]
            if row.get("check_status") not in (None, "", "INI")
            else "UNCHECKED"
            for row in rows
            if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_states(
        self, want: Callable[[dict[str, str]], bool], timeout: float = 30.0
    ) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            if self.haproxy is not None and self.haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited:\n{self.log()}")
            states = self.states()
            if want(states):
                return states
            time.sleep(0.05)
        raise AssertionError(f"HAProxy's view never became what was wanted: {states}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
