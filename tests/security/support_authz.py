"""Helpers of the authorization tests: keys made before the server starts, a
formation with two agents and two ``ask`` tools, and a loopback JWKS server
with locally generated signing keys."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.server.serveproc import ServeProcess

#: Two agents (helper is the default) and two built-in tools that need approval.
AGENTS_YAML = """
approval:
  default: ask
  tools: {"builtin/*": ask}
agents:
  helper:
    description: answers questions
    tools: [calculator, datetime]
  ops:
    description: runs operations
"""


def key_store(home: Path) -> KeyStore:
    """The key file a ``muxi serve`` with MUXI_HOME=home uses."""
    return KeyStore(home / "data" / "server_keys.json", env_admin_key="")


def make_key(home: Path, role: str, user: str, scopes: list[str] | None = None) -> str:
    return key_store(home).create(role, user, "test", scopes)[1]


def write_formation(fake: FakeLLM, where: Path, server_yaml: str = "") -> Path:
    where.mkdir(parents=True, exist_ok=True)
    return fake.write_formation(where, extra=AGENTS_YAML + "\n" + server_yaml)


@contextmanager
def serving(
    home: Path, config: Path, args: tuple[str, ...] = (), **env: str
) -> Iterator[ServeProcess]:
    """A started ``muxi serve``, always stopped afterwards."""
    proc = ServeProcess(home, config, args=args, **env)
    try:
        yield proc.start()
    finally:
        proc.stop()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def client_from(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z is this
    machine): tests that send bad credentials on purpose get their own
    failed-authentication budget."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def chat(url: str, key: str, **body: Any) -> httpx.Response:
    """One non-streaming turn."""
    body.setdefault("message", "hi")
    return httpx.post(url + "/v1/chat", json=body, headers=bearer(key), timeout=60)


def refused_scope(response: httpx.Response) -> str | None:
    """The scope a 403 names (AssertionError for any other answer)."""
    assert response.status_code == 403, (response.status_code, response.text)
    err = response.json()["error"]
    assert err["code"] == "missing_scope", err
    assert err["scope"] in err["message"], err
    return str(err["scope"])


# ------------------------------------------------------------------------ JWKS / JWT


def rsa_key(kid: str) -> tuple[Any, dict[str, Any]]:
    """A fresh RSA private key and its public JWK (with ``kid``)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, use="sig", alg="RS256")
    return private, jwk


def ec_key(kid: str) -> tuple[Any, dict[str, Any]]:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, use="sig", alg="ES256")
    return private, jwk


@dataclass
class JWKSServer:
    """Serves ``{"keys": [...]}`` on 127.0.0.1 and counts the fetches."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


ISSUER = "https://id.example.test/"
AUDIENCE = "muxi-api"


def token(private: Any, kid: str | None, alg: str = "RS256", **claims: Any) -> str:
    """A signed JWT; ``exp`` defaults to 5 minutes ahead; a claim set to None is left out."""
    import jwt

    now = int(time.time())
    body: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(body, private, algorithm=alg, headers=headers)


def jwt_yaml(jwks_url: str, extra: str = "") -> str:
    return f"""
server:
  jwt:
    issuer: "{ISSUER}"
    audience: {AUDIENCE}
    jwks_url: {jwks_url}
    user_claim: preferred_username
    role_claim: roles
    scopes_claim: scope
    jwks_min_refresh: 30
{extra}"""
